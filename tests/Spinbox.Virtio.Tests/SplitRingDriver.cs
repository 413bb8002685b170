using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Tests;

/// <summary>
/// Plays the guest driver's half of a split virtqueue in test memory: writes descriptors, publishes
/// chains in the available ring, and reads back what the device put in the used ring.
/// </summary>
public sealed class SplitRingDriver
{
    public const ushort FlagNext = 1, FlagWrite = 2, FlagIndirect = 4;

    private readonly IGuestMemory _memory;
    private ushort _nextDescriptor;
    private ulong _nextData;

    public SplitRingDriver(IGuestMemory memory, ushort size, ulong descriptorTable = 0x1000, ulong availableRing = 0x3000,
        ulong usedRing = 0x4000, ulong dataArea = 0x10000)
    {
        _memory = memory;
        Size = size;
        DescriptorTable = descriptorTable;
        AvailableRing = availableRing;
        UsedRing = usedRing;
        _nextData = dataArea;
    }

    public ushort Size { get; }
    public ulong DescriptorTable { get; }
    public ulong AvailableRing { get; }
    public ulong UsedRing { get; }
    public ushort AvailableIndex { get; private set; }

    public Virtqueue CreateQueue(bool eventIndex = false) =>
        new(_memory, Size, DescriptorTable, AvailableRing, UsedRing, eventIndex);

    /// <summary>Reserves a data buffer in guest memory (16-byte aligned), optionally filled.</summary>
    public ulong Allocate(int length, ReadOnlySpan<byte> contents = default)
    {
        ulong address = _nextData;
        _nextData += (ulong)((length + 15) & ~15);
        _memory.GetSpan(address, length).Clear();
        if (!contents.IsEmpty) _memory.Write(address, contents);
        return address;
    }

    public void WriteDescriptor(ushort index, ulong address, uint length, ushort flags, ushort next)
    {
        ulong entry = DescriptorTable + 16UL * index;
        _memory.Write(entry, address);
        _memory.Write(entry + 8, length);
        _memory.Write(entry + 12, flags);
        _memory.Write(entry + 14, next);
    }

    /// <summary>Writes a chain into consecutive descriptor slots and publishes it; returns its head.</summary>
    public ushort AddChain(params (ulong Address, uint Length, bool Writable)[] buffers)
    {
        ushort head = (ushort)(_nextDescriptor % Size);
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)((_nextDescriptor + i) % Size);
            ushort next = (ushort)((_nextDescriptor + i + 1) % Size);
            ushort flags = (ushort)((buffers[i].Writable ? FlagWrite : 0) | (i + 1 < buffers.Length ? FlagNext : 0));
            WriteDescriptor(index, buffers[i].Address, buffers[i].Length, flags, next);
        }
        _nextDescriptor = (ushort)((_nextDescriptor + buffers.Length) % Size);
        Publish(head);
        return head;
    }

    /// <summary>Puts <paramref name="head"/> in the next available slot and bumps avail.idx.</summary>
    public void Publish(ushort head)
    {
        _memory.Write(AvailableRing + 4 + 2UL * (ulong)(AvailableIndex % Size), head);
        AvailableIndex++;
        _memory.Write(AvailableRing + 2, AvailableIndex);
    }

    /// <summary>Sets avail.idx directly (to model a driver that lies about it).</summary>
    public void SetAvailableIndex(ushort value)
    {
        AvailableIndex = value;
        _memory.Write(AvailableRing + 2, value);
    }

    public ushort UsedIndex => _memory.Read<ushort>(UsedRing + 2);

    public (uint Id, uint Length) Used(int slot)
    {
        ulong elem = UsedRing + 4 + 8UL * (ulong)(slot % Size);
        return (_memory.Read<uint>(elem), _memory.Read<uint>(elem + 4));
    }

    public void SetNoInterrupt(bool on) => _memory.Write(AvailableRing, (ushort)(on ? 1 : 0));

    public void SetUsedEvent(ushort value) => _memory.Write(AvailableRing + 4 + 2UL * Size, value);

    public ushort AvailEvent => _memory.Read<ushort>(UsedRing + 4 + 8UL * Size);
}

/// <summary>Counts interrupts per queue; consults ShouldSignal like a real transport does.</summary>
public sealed class CountingInterrupt(Func<int, Virtqueue?>? queue = null) : IInterruptSignal
{
    public int Signals { get; private set; }
    public int Raised { get; private set; }

    public void Signal(int queueIndex)
    {
        Signals++;
        if (queue?.Invoke(queueIndex) is { } q && !q.ShouldSignal()) return;
        Raised++;
    }
}
