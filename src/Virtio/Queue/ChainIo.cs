using Spinbox.Virtio.Memory;

namespace Spinbox.Virtio.Queue;

/// <summary>Reads the device-readable bytes of a chain in order, across descriptor boundaries.</summary>
public sealed class ChainReader(IGuestMemory memory, DescriptorChain chain)
{
    private readonly Descriptor[] _parts = chain.Readable.ToArray();
    private int _part;
    private uint _offset;

    public long Remaining => _parts.Skip(_part).Sum(d => (long)d.Length) - _offset;

    /// <summary>Copies up to destination.Length bytes; returns how many. Throws GuestMemoryException on a bad buffer.</summary>
    public int Read(Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length && _part < _parts.Length)
        {
            var d = _parts[_part];
            int n = (int)Math.Min((uint)(destination.Length - total), d.Length - _offset);
            if (n > 0) memory.Read(d.Address + _offset, destination.Slice(total, n));
            total += n; _offset += (uint)n;
            if (_offset >= d.Length) { _part++; _offset = 0; }
        }
        return total;
    }

    /// <summary>Reads exactly destination.Length bytes or returns false.</summary>
    public bool TryReadExactly(Span<byte> destination) => Remaining >= destination.Length && Read(destination) == destination.Length;
}

/// <summary>Writes into the device-writable bytes of a chain in order; counts what was written.</summary>
public sealed class ChainWriter(IGuestMemory memory, DescriptorChain chain)
{
    private readonly Descriptor[] _parts = chain.Writable.ToArray();
    private int _part;
    private uint _offset;

    public uint Written { get; private set; }

    public long Remaining => _parts.Skip(_part).Sum(d => (long)d.Length) - _offset;

    /// <summary>Copies as much of source as fits; returns how many bytes. Throws GuestMemoryException on a bad buffer.</summary>
    public int Write(ReadOnlySpan<byte> source)
    {
        int total = 0;
        while (total < source.Length && _part < _parts.Length)
        {
            var d = _parts[_part];
            int n = (int)Math.Min((uint)(source.Length - total), d.Length - _offset);
            if (n > 0) memory.Write(d.Address + _offset, source.Slice(total, n));
            total += n; _offset += (uint)n; Written += (uint)n;
            if (_offset >= d.Length) { _part++; _offset = 0; }
        }
        return total;
    }
}
