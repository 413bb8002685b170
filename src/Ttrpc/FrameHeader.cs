using System.Buffers.Binary;

namespace Spinbox.Ttrpc;

internal enum MessageType : byte
{
    Request = 1,
    Response = 2,
    Data = 3,
}

/// <summary>
/// The 10-byte ttrpc frame header: data length (u32 BE), stream id (u32 BE), message type (u8), flags (u8).
/// </summary>
internal readonly record struct FrameHeader(uint Length, uint StreamId, MessageType Type, byte Flags)
{
    public const int Size = 10;

    /// <summary>Largest data length either side accepts (PROTOCOL.md: 4 MB).</summary>
    public const int MaxDataLength = 4 << 20;

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination, Length);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        destination[8] = (byte)Type;
        destination[9] = Flags;
    }

    public static FrameHeader ReadFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"a ttrpc frame header is {Size} bytes, got {source.Length}", nameof(source));
        }

        return new FrameHeader(
            BinaryPrimitives.ReadUInt32BigEndian(source),
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            (MessageType)source[8],
            source[9]);
    }
}
