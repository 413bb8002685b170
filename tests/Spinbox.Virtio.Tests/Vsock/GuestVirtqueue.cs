using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Tests.Vsock;

/// <summary>
/// The driver side of one split virtqueue, written from the spec (virtio 1.2, 2.7) rather than from the
/// device's Virtqueue, so the tests check the device against the ring layout. Each descriptor index owns a
/// fixed buffer slot in guest RAM.
/// </summary>
internal sealed class GuestVirtqueue
{
    private const ushort FlagNext = 1, FlagWrite = 2;

    private readonly IGuestMemory _memory;
    private readonly ulong _desc, _avail, _used, _slots;
    private readonly uint _slotSize;
    private readonly Stack<ushort> _free = new();
    private readonly Dictionary<ushort, ushort[]> _chains = new();
    private ushort _availIdx, _lastUsed;

    public GuestVirtqueue(IGuestMemory memory, ulong ringBase, ushort size, ulong slotBase, uint slotSize)
    {
        _memory = memory;
        Size = size;
        _desc = ringBase;
        _avail = ringBase + 16UL * size;
        _used = (_avail + 6 + 2UL * size + 4095) & ~4095UL;
        _slots = slotBase;
        _slotSize = slotSize;
        for (int i = size - 1; i >= 0; i--) _free.Push((ushort)i);
        DeviceView = new Virtqueue(memory, size, _desc, _avail, _used, eventIndex: false);
    }

    public ushort Size { get; }
    public Virtqueue DeviceView { get; }
    public int FreeDescriptors => _free.Count;

    /// <summary>Bytes of guest RAM the ring areas of a queue of this size take (rounded to pages).</summary>
    public static ulong RingBytes(ushort size) => ((16UL * size + 6 + 2UL * size + 4095) & ~4095UL) + ((6 + 8UL * size + 4095) & ~4095UL);

    /// <summary>One buffer: its bytes (device-readable) or its length (device-writable), in its descriptor's slot.</summary>
    public readonly record struct Part(byte[]? Data, uint Length, bool Writable, ulong? RawAddress = null)
    {
        public static Part Readable(byte[] data) => new(data, (uint)data.Length, false);
        public static Part WritableOf(uint length) => new(null, length, true);
    }

    /// <summary>Builds a chain of the given parts and publishes it in the available ring; returns its head.</summary>
    public ushort Add(params Part[] parts)
    {
        if (parts.Length == 0 || parts.Length > _free.Count) throw new InvalidOperationException("not enough free descriptors");
        var indices = new ushort[parts.Length];
        for (int i = 0; i < parts.Length; i++) indices[i] = _free.Pop();
        for (int i = 0; i < parts.Length; i++)
        {
            var p = parts[i];
            if (p.RawAddress is null && p.Length > _slotSize) throw new ArgumentException("part larger than a buffer slot");
            ulong addr = p.RawAddress ?? _slots + (ulong)indices[i] * _slotSize;
            if (p.Data is not null) _memory.Write(addr, p.Data);
            ulong entry = _desc + 16UL * indices[i];
            ushort flags = (ushort)((p.Writable ? FlagWrite : 0) | (i + 1 < parts.Length ? FlagNext : 0));
            _memory.Write(entry, addr);
            _memory.Write(entry + 8, p.Length);
            _memory.Write(entry + 12, flags);
            _memory.Write(entry + 14, i + 1 < parts.Length ? indices[i + 1] : (ushort)0);
        }
        _chains[indices[0]] = indices;
        _memory.Write(_avail + 4 + 2UL * (ulong)(_availIdx % Size), indices[0]);
        Interlocked.MemoryBarrier(); // ring entry before the index that publishes it
        _availIdx++;
        _memory.Write(_avail + 2, _availIdx);
        return indices[0];
    }

    /// <summary>Takes the next used element: its head and the length the device reported.</summary>
    public bool TryTakeUsed(out ushort head, out uint length)
    {
        head = 0;
        length = 0;
        ushort usedIdx = _memory.Read<ushort>(_used + 2);
        if (usedIdx == _lastUsed) return false;
        Interlocked.MemoryBarrier();
        ulong elem = _used + 4 + 8UL * (ulong)(_lastUsed % Size);
        head = (ushort)_memory.Read<uint>(elem);
        length = _memory.Read<uint>(elem + 4);
        _lastUsed++;
        return true;
    }

    /// <summary>Concatenates the first <paramref name="length"/> bytes the device wrote into a used chain, then frees it.</summary>
    public byte[] ReadWrittenAndFree(ushort head, uint length)
    {
        var indices = _chains[head];
        var result = new byte[length];
        int done = 0;
        foreach (var i in indices)
        {
            ulong entry = _desc + 16UL * i;
            ushort flags = _memory.Read<ushort>(entry + 12);
            if ((flags & FlagWrite) == 0 || done == result.Length) continue;
            uint len = _memory.Read<uint>(entry + 8);
            int n = (int)Math.Min(len, (uint)(result.Length - done));
            _memory.Read(_memory.Read<ulong>(entry), result.AsSpan(done, n));
            done += n;
        }
        if (done != result.Length) throw new InvalidOperationException($"device reported {length} bytes but the chain holds {done}");
        Free(head);
        return result;
    }

    public void Free(ushort head)
    {
        foreach (var i in _chains[head]) _free.Push(i);
        _chains.Remove(head);
    }
}
