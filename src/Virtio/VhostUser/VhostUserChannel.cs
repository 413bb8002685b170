using System.Buffers.Binary;

namespace Spinbox.Virtio.VhostUser;

/// <summary>Frames vhost-user messages on a connected unix socket: reads requests with their fds, writes replies.</summary>
internal sealed class VhostUserChannel(OwnedFd socket) : IDisposable
{
    public OwnedFd Socket { get; } = socket;

    /// <summary>Reads one message; returns null when the front end closed the connection at a message boundary.</summary>
    public VhostUserMessage? Receive()
    {
        var fds = new List<OwnedFd>();
        try
        {
            Span<byte> header = stackalloc byte[VhostUserProtocol.HeaderSize];
            int got = 0;
            while (got < header.Length)
            {
                int n = UnixInterop.ReceiveWithFds(Socket, header[got..], fds, out bool truncated);
                if (truncated) throw new VhostUserProtocolException($"more than {UnixInterop.MaxFdsPerMessage} fds attached to one message; the kernel dropped some");
                if (n == 0)
                {
                    if (got == 0 && fds.Count == 0) return null;
                    throw new VhostUserProtocolException($"connection closed inside a message header ({got} of 12 bytes)");
                }
                got += n;
            }
            uint request = BinaryPrimitives.ReadUInt32LittleEndian(header);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
            if ((flags & VhostUserProtocol.VersionMask) != VhostUserProtocol.Version)
                throw new VhostUserProtocolException($"request {request}: protocol version {flags & VhostUserProtocol.VersionMask}, expected 1");
            if (size > VhostUserProtocol.MaxPayloadSize)
                throw new VhostUserProtocolException($"request {request}: payload size {size} exceeds {VhostUserProtocol.MaxPayloadSize}");
            var payload = new byte[size];
            got = 0;
            while (got < payload.Length)
            {
                int n = UnixInterop.ReceiveWithFds(Socket, payload.AsSpan(got), fds, out bool truncated);
                if (truncated) throw new VhostUserProtocolException("fds attached to a message payload were truncated");
                if (n == 0) throw new VhostUserProtocolException($"request {request}: connection closed after {got} of {size} payload bytes");
                got += n;
            }
            var message = new VhostUserMessage((VhostUserRequest)request, flags, payload, fds);
            fds = null!; // owned by the message now
            return message;
        }
        finally
        {
            if (fds != null) foreach (var fd in fds) fd.Dispose();
        }
    }

    public void Reply(VhostUserRequest request, ReadOnlySpan<byte> payload)
    {
        Span<byte> buffer = stackalloc byte[VhostUserProtocol.HeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)request);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], VhostUserProtocol.Version | VhostUserProtocol.ReplyFlag);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[8..], (uint)payload.Length);
        payload.CopyTo(buffer[VhostUserProtocol.HeaderSize..]);
        UnixInterop.SendWithFds(Socket, buffer, []);
    }

    public void ReplyU64(VhostUserRequest request, ulong value)
    {
        Span<byte> p = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(p, value);
        Reply(request, p);
    }

    public void Dispose() => Socket.Dispose();
}
