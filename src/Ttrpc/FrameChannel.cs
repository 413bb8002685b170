using System.Buffers;

namespace Spinbox.Ttrpc;

/// <summary>
/// Reads and writes ttrpc frames on one duplex stream. Reads come from a single loop; writes may come
/// from many tasks and are serialized so frames never interleave.
/// </summary>
internal sealed class FrameChannel(Stream stream)
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _headerBuffer = new byte[FrameHeader.Size];

    /// <summary>Next frame, or null on a clean end of stream between frames.</summary>
    /// <exception cref="FrameTooLargeException">the announced length is over the limit (nothing is allocated for it).</exception>
    /// <exception cref="EndOfStreamException">the stream ended inside a frame.</exception>
    public async Task<(FrameHeader Header, byte[] Data)?> ReadFrameAsync(CancellationToken ct)
    {
        int got = 0;
        while (got < FrameHeader.Size)
        {
            int n = await stream.ReadAsync(_headerBuffer.AsMemory(got), ct).ConfigureAwait(false);
            if (n == 0)
            {
                if (got == 0)
                {
                    return null;
                }

                throw new EndOfStreamException($"ttrpc connection ended after {got} of {FrameHeader.Size} header bytes");
            }

            got += n;
        }

        var header = FrameHeader.ReadFrom(_headerBuffer);
        if (header.Length > FrameHeader.MaxDataLength)
        {
            throw new FrameTooLargeException(header.StreamId, header.Length);
        }

        var data = header.Length == 0 ? [] : new byte[header.Length];
        await stream.ReadExactlyAsync(data, ct).ConfigureAwait(false);
        return (header, data);
    }

    /// <summary>Writes one frame as a single buffer under the write lock.</summary>
    public async Task WriteFrameAsync(uint streamId, MessageType type, byte flags, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (data.Length > FrameHeader.MaxDataLength)
        {
            throw new TtrpcException(TtrpcStatusCode.ResourceExhausted,
                $"ttrpc message of {data.Length} bytes is over the {FrameHeader.MaxDataLength}-byte maximum");
        }

        int total = FrameHeader.Size + data.Length;
        byte[] frame = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            new FrameHeader((uint)data.Length, streamId, type, flags).WriteTo(frame);
            data.Span.CopyTo(frame.AsSpan(FrameHeader.Size));
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await stream.WriteAsync(frame.AsMemory(0, total), ct).ConfigureAwait(false);
                await stream.FlushAsync(ct).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }
}
