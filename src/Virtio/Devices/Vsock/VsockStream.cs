namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>
/// One vsock stream connection, seen from the host. Reads return 0 at EOF: the guest shut down its sending
/// side, reset the connection, or the device was reset. Writes wait (asynchronously) while the connection's
/// send buffer is full, i.e. while the guest has no credit or posts no rx buffers. <see cref="ShutdownWrite"/>
/// half-closes; Dispose closes both ways and frees the port.
/// </summary>
public sealed class VsockStream : Stream
{
    private readonly VirtioVsockDevice _device;
    private readonly VsockConnection _connection;
    private int _disposed;

    internal VsockStream(VirtioVsockDevice device, VsockConnection connection)
    {
        _device = device;
        _connection = connection;
    }

    /// <summary>The host-side port (the listening port for guest-initiated connections).</summary>
    public uint LocalPort => _connection.LocalPort;

    /// <summary>The guest-side port.</summary>
    public uint RemotePort => _connection.PeerPort;

    public ulong RemoteCid => _device.GuestCid;

    public override bool CanRead => _disposed == 0;
    public override bool CanWrite => _disposed == 0;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        ThrowIfDisposed();
        while (true)
        {
            var wait = _device.TryRead(_connection, buffer, out int read);
            if (wait is null) return read;
            wait.GetAwaiter().GetResult();
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        while (true)
        {
            var wait = _device.TryRead(_connection, buffer.Span, out int read);
            if (wait is null) return read;
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ThrowIfDisposed();
        while (true)
        {
            var wait = _device.TryWrite(_connection, buffer, out int accepted);
            buffer = buffer[accepted..];
            if (wait is null) return;
            wait.GetAwaiter().GetResult();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        while (true)
        {
            var wait = _device.TryWrite(_connection, buffer.Span, out int accepted);
            buffer = buffer[accepted..];
            if (wait is null) return;
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Data is handed to the device as it is written; nothing is held in the stream.</summary>
    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Half-close: after the data written so far the guest reads EOF; reading from the guest goes on.</summary>
    public void ShutdownWrite()
    {
        ThrowIfDisposed();
        _device.ShutdownWrite(_connection);
    }

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _device.Close(_connection);
        base.Dispose(disposing);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);
}
