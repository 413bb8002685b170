using Spinbox.Virtio.Memory;

namespace Spinbox.Virtio.Queue;

/// <summary>
/// A split virtqueue (virtio 1.x, section 2.7) in guest memory. Every index and length the guest
/// wrote is validated before use. Not thread-safe: one device thread owns a queue at a time.
/// </summary>
public sealed class Virtqueue
{
    private const ushort DescFlagNext = 1, DescFlagWrite = 2, DescFlagIndirect = 4;
    private const ushort AvailFlagNoInterrupt = 1;
    private const int DescriptorSize = 16;

    private readonly IGuestMemory _memory;
    private ushort _lastSignalledUsed;
    private bool _signalledOnce;

    public Virtqueue(IGuestMemory memory, ushort size, ulong descriptorTable, ulong availableRing, ulong usedRing, bool eventIndex)
    {
        if (size == 0 || size > 32768 || (size & (size - 1)) != 0)
            throw new VirtqueueException($"queue size {size} is not a power of two in 1..32768");
        _memory = memory;
        Size = size;
        DescriptorTable = descriptorTable;
        AvailableRing = availableRing;
        UsedRing = usedRing;
        EventIndex = eventIndex;
        // Check the three areas up front so later ring accesses cannot fall outside RAM.
        Require(descriptorTable, (ulong)size * DescriptorSize, "descriptor table");
        Require(availableRing, 6 + 2UL * size, "available ring");
        Require(usedRing, 6 + 8UL * size, "used ring");
    }

    public ushort Size { get; }
    public ulong DescriptorTable { get; }
    public ulong AvailableRing { get; }
    public ulong UsedRing { get; }
    public bool EventIndex { get; }

    /// <summary>Next available-ring slot to consume (vhost-user's vring base).</summary>
    public ushort NextAvailable { get; set; }

    /// <summary>Next used-ring slot to fill.</summary>
    public ushort NextUsed { get; set; }

    private void Require(ulong gpa, ulong length, string what)
    {
        if (length > int.MaxValue || !_memory.TryGetSpan(gpa, (int)length, out _))
            throw new VirtqueueException($"{what} at 0x{gpa:x} (+{length}) is outside guest RAM");
    }


    private ushort ReadU16(ulong gpa) => _memory.Read<ushort>(gpa);

    /// <summary>True when the guest has made buffers available that we have not consumed.</summary>
    public bool HasAvailable => ReadU16(AvailableRing + 2) != NextAvailable;

    /// <summary>
    /// Pops the next available chain. Returns false when the ring is empty. Throws VirtqueueException when
    /// the guest published an impossible ring state; the caller should stop using this queue.
    /// </summary>
    public bool TryPop(out DescriptorChain chain)
    {
        chain = null!;
        ushort availIdx = ReadU16(AvailableRing + 2);
        if (availIdx == NextAvailable) return false;
        if ((ushort)(availIdx - NextAvailable) > Size)
            throw new VirtqueueException($"available index {availIdx} is more than {Size} ahead of {NextAvailable}");
        Interlocked.MemoryBarrier(); // read ring entries only after the index that published them
        ushort head = ReadU16(AvailableRing + 4 + 2UL * (ulong)(NextAvailable % Size));
        NextAvailable++;
        chain = new DescriptorChain(head, WalkChain(head));
        if (EventIndex) PublishAvailEvent();
        return true;
    }

    private Descriptor[] WalkChain(ushort head)
    {
        if (head >= Size) throw new VirtqueueException($"descriptor head {head} is out of range (queue size {Size})");
        var list = new List<Descriptor>();
        ushort index = head;
        for (int steps = 0; ; steps++)
        {
            if (steps >= Size) throw new VirtqueueException("descriptor chain loops or is longer than the queue");
            ulong entry = DescriptorTable + (ulong)index * DescriptorSize;
            ulong addr = _memory.Read<ulong>(entry);
            uint len = _memory.Read<uint>(entry + 8);
            ushort flags = ReadU16(entry + 12);
            ushort next = ReadU16(entry + 14);
            if ((flags & DescFlagIndirect) != 0)
            {
                if (list.Count != 0 || (flags & DescFlagNext) != 0)
                    throw new VirtqueueException("an indirect descriptor must be the only one in its chain");
                WalkIndirect(addr, len, list);
                break;
            }
            list.Add(new Descriptor(addr, len, (flags & DescFlagWrite) != 0));
            if ((flags & DescFlagNext) == 0) break;
            if (next >= Size) throw new VirtqueueException($"descriptor next index {next} is out of range");
            index = next;
        }
        return list.ToArray();
    }

    private void WalkIndirect(ulong table, uint length, List<Descriptor> list)
    {
        if (length == 0 || length % DescriptorSize != 0)
            throw new VirtqueueException($"indirect table length {length} is not a positive multiple of 16");
        uint count = length / DescriptorSize;
        if (count > 32768) throw new VirtqueueException("indirect table has more than 32768 entries");
        Require(table, length, "indirect descriptor table");
        uint index = 0;
        for (uint steps = 0; ; steps++)
        {
            if (steps >= count) throw new VirtqueueException("indirect descriptor chain loops");
            ulong entry = table + (ulong)index * DescriptorSize;
            ulong addr = _memory.Read<ulong>(entry);
            uint len = _memory.Read<uint>(entry + 8);
            ushort flags = ReadU16(entry + 12);
            ushort next = ReadU16(entry + 14);
            if ((flags & DescFlagIndirect) != 0) throw new VirtqueueException("nested indirect descriptor");
            list.Add(new Descriptor(addr, len, (flags & DescFlagWrite) != 0));
            if ((flags & DescFlagNext) == 0) break;
            if (next >= count) throw new VirtqueueException($"indirect next index {next} is out of range");
            index = next;
        }
    }

    /// <summary>Returns a chain to the guest with the number of bytes the device wrote into it.</summary>
    public void PushUsed(ushort headIndex, uint writtenLength)
    {
        ulong elem = UsedRing + 4 + 8UL * (ulong)(NextUsed % Size);
        _memory.Write(elem, (uint)headIndex);
        _memory.Write(elem + 4, writtenLength);
        NextUsed++;
        Interlocked.MemoryBarrier(); // the element must be visible before the index that publishes it
        _memory.Write(UsedRing + 2, NextUsed);
    }

    /// <summary>Whether the guest wants an interrupt for the used buffers pushed since the last signal.</summary>
    public bool ShouldSignal()
    {
        Interlocked.MemoryBarrier();
        bool result;
        if (EventIndex)
        {
            ushort usedEvent = ReadU16(AvailableRing + 4 + 2UL * Size);
            ushort newIdx = NextUsed, oldIdx = _lastSignalledUsed;
            // vring_need_event: signal when used_event lies in (old, new].
            result = !_signalledOnce || (ushort)(newIdx - usedEvent - 1) < (ushort)(newIdx - oldIdx);
        }
        else
        {
            result = (ReadU16(AvailableRing) & AvailFlagNoInterrupt) == 0;
        }
        _lastSignalledUsed = NextUsed;
        _signalledOnce = true;
        return result;
    }

    private void PublishAvailEvent()
    {
        _memory.Write(UsedRing + 4 + 8UL * Size, NextAvailable);
        // Store-load fence: the next read of avail.idx must not pass this store, or the driver (which
        // stores avail.idx, then loads avail_event) and we could both miss the new buffer and the kick.
        Interlocked.MemoryBarrier();
    }
}
