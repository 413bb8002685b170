using System.Buffers.Binary;
using Spinbox.Virtio.VhostUser;

namespace Spinbox.Virtio.Tests.VhostUser;

/// <summary>A minimal vhost-user front end (the role QEMU plays): sends requests with fds, reads replies.</summary>
internal sealed class TestFrontEnd(string socketPath) : IDisposable
{
    private readonly OwnedFd _socket = UnixInterop.ConnectUnix(socketPath);

    public void Send(VhostUserRequest request, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default, bool needReply = false, uint? flags = null)
    {
        var buffer = new byte[12 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)request);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), flags ?? (1u | (needReply ? 8u : 0u)));
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(8), (uint)payload.Length);
        payload.CopyTo(buffer.AsSpan(12));
        UnixInterop.SendWithFds(_socket, buffer, fds);
    }

    /// <summary>Sends bytes as they are (to forge headers).</summary>
    public void SendRaw(ReadOnlySpan<byte> bytes) => UnixInterop.SendWithFds(_socket, bytes, []);

    public void SendU64(VhostUserRequest request, ulong value, ReadOnlySpan<int> fds = default, bool needReply = false)
    {
        Span<byte> p = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(p, value);
        Send(request, p, fds, needReply);
    }

    public void SendState(VhostUserRequest request, uint index, uint num, bool needReply = false)
    {
        Span<byte> p = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(p, index);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], num);
        Send(request, p, needReply: needReply);
    }

    /// <summary>Reads one reply; null when the back end closed the connection (or nothing came within the timeout).</summary>
    public (VhostUserRequest Request, uint Flags, byte[] Payload)? Receive(int timeoutMs = 5000)
    {
        Span<UnixInterop.PollFd> p = [new UnixInterop.PollFd { Fd = _socket.Fd, Events = UnixInterop.POLLIN }];
        if (!UnixInterop.Poll(p, timeoutMs)) return null;
        var header = new byte[12];
        if (!ReadExactly(header)) return null;
        var payload = new byte[BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8))];
        if (!ReadExactly(payload)) return null;
        return ((VhostUserRequest)BinaryPrimitives.ReadUInt32LittleEndian(header), BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)), payload);
    }

    private bool ReadExactly(Span<byte> buffer)
    {
        var fds = new List<OwnedFd>();
        int got = 0;
        while (got < buffer.Length)
        {
            int n = UnixInterop.ReceiveWithFds(_socket, buffer[got..], fds, out _);
            if (n == 0) return false;
            got += n;
        }
        foreach (var fd in fds) fd.Dispose();
        return true;
    }

    public ulong ReceiveU64(VhostUserRequest expected)
    {
        var reply = Receive() ?? throw new InvalidOperationException($"no reply to {expected}");
        Assert.Equal(expected, reply.Request);
        Assert.Equal(1u | 4u, reply.Flags);
        Assert.Equal(8, reply.Payload.Length);
        return BinaryPrimitives.ReadUInt64LittleEndian(reply.Payload);
    }

    public ulong Query(VhostUserRequest request)
    {
        Send(request, []);
        return ReceiveU64(request);
    }

    /// <summary>True when the back end closed its end (a read returns end of file).</summary>
    public bool WaitClosed(int timeoutMs = 5000)
    {
        Span<UnixInterop.PollFd> p = [new UnixInterop.PollFd { Fd = _socket.Fd, Events = UnixInterop.POLLIN }];
        if (!UnixInterop.Poll(p, timeoutMs)) return false;
        var fds = new List<OwnedFd>();
        Span<byte> b = stackalloc byte[64];
        try { return UnixInterop.ReceiveWithFds(_socket, b, fds, out _) == 0; }
        catch (IOException) { return true; } // ECONNRESET counts as closed
        finally { foreach (var fd in fds) fd.Dispose(); }
    }

    public void Dispose() => _socket.Dispose();
}
