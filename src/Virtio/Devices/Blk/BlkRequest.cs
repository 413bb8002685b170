using System.Buffers.Binary;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Devices.Blk;

/// <summary>Request types (virtio 1.2, 5.2.6).</summary>
public static class BlkRequestType
{
    public const uint In = 0, Out = 1, Flush = 4, GetId = 8, GetLifetime = 10, Discard = 11, WriteZeroes = 13, SecureErase = 14;
}

/// <summary>The status byte the device writes last.</summary>
public static class BlkStatus
{
    public const byte Ok = 0, IoError = 1, Unsupported = 2;
}

/// <summary>A guest buffer slice (not yet checked against RAM).</summary>
public readonly record struct GuestSegment(ulong Address, uint Length);

/// <summary>
/// One request laid over its descriptor chain, without assuming any framing (VIRTIO_F_ANY_LAYOUT is
/// implied by VERSION_1): the first 16 readable bytes are the header, the rest are OUT data; the last
/// writable byte is the status, the writable bytes before it are IN data.
/// </summary>
public sealed class BlkRequest
{
    public const int HeaderSize = 16;

    private BlkRequest(uint type, ulong sector, long readableLength, long writableLength, DescriptorChain chain)
    {
        Type = type; Sector = sector; _chain = chain;
        OutDataLength = readableLength - HeaderSize;
        InDataLength = writableLength - 1;
    }

    private readonly DescriptorChain _chain;

    public uint Type { get; }
    public ulong Sector { get; }

    /// <summary>Readable bytes after the header (the data of a write).</summary>
    public long OutDataLength { get; }

    /// <summary>Writable bytes before the status byte (room for the data of a read or an id).</summary>
    public long InDataLength { get; }

    public IReadOnlyList<GuestSegment> OutData => Slice(_chain.Readable, HeaderSize, OutDataLength);

    public IReadOnlyList<GuestSegment> InData(long length) => Slice(_chain.Writable, 0, Math.Min(length, InDataLength));

    /// <summary>Finds the status byte: the last writable byte of the chain, or null when there is none.</summary>
    public static ulong? FindStatusAddress(DescriptorChain chain)
    {
        ulong? last = null;
        foreach (var d in chain.Writable)
            if (d.Length > 0) last = d.Address + (d.Length - 1);
        return last;
    }

    /// <summary>
    /// Reads the header. Returns null when the chain has fewer than 16 readable bytes.
    /// Throws GuestMemoryException when a header descriptor points outside guest RAM.
    /// </summary>
    public static BlkRequest? Parse(IGuestMemory memory, DescriptorChain chain)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        var reader = new ChainReader(memory, chain);
        if (!reader.TryReadExactly(header)) return null;
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        return new BlkRequest(type, sector, chain.TotalReadableLength, chain.TotalWritableLength, chain);
    }

    /// <summary>The [skip, skip+take) byte range of a list of descriptors, as guest segments.</summary>
    public static List<GuestSegment> Slice(IEnumerable<Descriptor> parts, long skip, long take)
    {
        var segments = new List<GuestSegment>();
        foreach (var d in parts)
        {
            if (take <= 0) break;
            if (skip >= d.Length) { skip -= d.Length; continue; }
            long n = Math.Min(d.Length - skip, take);
            segments.Add(new GuestSegment(d.Address + (ulong)skip, (uint)n));
            take -= n;
            skip = 0;
        }
        return segments;
    }
}
