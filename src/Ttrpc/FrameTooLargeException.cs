namespace Spinbox.Ttrpc;

/// <summary>The peer announced a frame larger than ttrpc's 4 MiB limit; the connection cannot continue.</summary>
public sealed class FrameTooLargeException(uint streamId, uint length)
    : IOException($"ttrpc frame on stream {streamId} has data length {length} bytes, over the {FrameHeader.MaxDataLength}-byte maximum; closing the connection")
{
    public uint StreamId { get; } = streamId;

    public uint Length { get; } = length;
}
