using Spinbox.GuestAgent.Interop;

namespace Spinbox.GuestAgent.Vsock;

/// <summary>
/// A duplex Stream over a socket descriptor using read(2)/write(2). Reads block a pool thread (the
/// base Stream's async path would serialize a pending read with writes and deadlock ttrpc). Writes
/// are synchronous so callers' ordering is kept. Dispose shuts the socket down, which also wakes a
/// blocked read.
/// </summary>
internal sealed class FdStream(int fd) : Stream
{
    private int _fd = fd;

    public int Descriptor => _fd;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer) => Libc.Read(Live(), buffer);

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new ValueTask<int>(Task.Run(() => Read(buffer.Span), CancellationToken.None));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer) => Libc.WriteAll(Live(), buffer);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            try
            {
                Libc.Shutdown(fd, Libc.SHUT_RDWR);
            }
            catch (LibcException)
            {
                // Not a socket, or already disconnected: closing is all that is left.
            }

            Libc.Close(fd);
        }

        base.Dispose(disposing);
    }

    private int Live() => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(FdStream));
}
