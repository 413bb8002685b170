using Microsoft.Extensions.Logging;

namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>The host side of a connection: what <see cref="VsockStream"/> calls into.</summary>
public sealed partial class VirtioVsockDevice
{
    /// <summary>Consumed-but-unadvertised bytes that trigger a CREDIT_UPDATE (must not exceed buf_alloc).</summary>
    private int CreditUpdateThreshold => Math.Max(1, BufferSize / 4);

    /// <summary>
    /// Reads buffered guest data. Returns null with <paramref name="read"/> set when done (0 = EOF), or a task to
    /// await before trying again.
    /// </summary>
    internal Task? TryRead(VsockConnection connection, Span<byte> destination, out int read)
    {
        read = 0;
        lock (_gate)
        {
            if (connection.Inbound.Count == 0)
                return connection.ReadEnded || destination.IsEmpty ? null : connection.Readable.WaitAsync();
            read = connection.Inbound.Read(destination);
            connection.FwdCnt += (uint)read;
            if (connection.State == VsockConnectionState.Established && !connection.PeerSendShutdown &&
                connection.FwdCnt - connection.LastAdvertisedFwdCnt >= (uint)CreditUpdateThreshold)
            {
                connection.NeedCreditUpdate = true;
                ScheduleLocked(connection);
                PumpRxLocked();
                SignalUsedLocked();
            }
        }
        return null;
    }

    /// <summary>
    /// Buffers as much of <paramref name="source"/> as fits and sends what the guest's credit allows. Returns a
    /// task to await when the buffer is full, null when nothing is left (<paramref name="accepted"/> = bytes taken).
    /// Throws IOException when the connection cannot carry data any more.
    /// </summary>
    internal Task? TryWrite(VsockConnection connection, ReadOnlySpan<byte> source, out int accepted)
    {
        accepted = 0;
        Task? wait = null;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(connection.LocalClosed, typeof(VsockStream));
            if (connection.State == VsockConnectionState.Closed)
                throw new IOException($"vsock connection to guest port {connection.PeerPort} was reset");
            if (connection.PeerReceiveShutdown)
                throw new IOException($"guest port {connection.PeerPort} shut down its receive side");
            if ((connection.ShutdownWanted & VsockProtocol.ShutdownSend) != 0)
                throw new InvalidOperationException("write after ShutdownWrite");
            // Sending inside the pump frees buffer space, so keep filling until the source is done or the
            // buffer is full; a wait taken only then cannot miss the pump's wake-up.
            while (accepted < source.Length)
            {
                int n = connection.Outbound.Write(source[accepted..]);
                if (n == 0)
                {
                    wait = connection.Writable.WaitAsync();
                    break;
                }
                accepted += n;
                ScheduleLocked(connection);
                PumpRxLocked();
            }
            SignalUsedLocked();
        }
        return wait;
    }

    /// <summary>Queues SHUTDOWN(SEND) after the data already written: the guest reads EOF.</summary>
    internal void ShutdownWrite(VsockConnection connection) => UpdateAndPump(() =>
    {
        ObjectDisposedException.ThrowIf(connection.LocalClosed, typeof(VsockStream));
        if (connection.State == VsockConnectionState.Closed) return;
        connection.ShutdownWanted |= VsockProtocol.ShutdownSend;
        ScheduleLocked(connection);
    });

    /// <summary>
    /// The host is done with the connection: pending data still goes out, then SHUTDOWN both ways; the guest
    /// answers RST, or after <see cref="CloseTimeout"/> we send one. Either frees the port.
    /// </summary>
    internal void Close(VsockConnection connection) => UpdateAndPump(() =>
    {
        if (connection.LocalClosed) return;
        connection.LocalClosed = true;
        connection.Inbound.Clear();
        connection.Readable.Pulse();
        connection.Writable.Pulse();
        if (connection.State == VsockConnectionState.Closed) return;
        connection.ShutdownWanted = VsockProtocol.ShutdownBoth;
        ScheduleLocked(connection);
        connection.CloseTimer = new Timer(_ => CloseTimedOut(connection), null, CloseTimeout, Timeout.InfiniteTimeSpan);
    });

    private void CloseTimedOut(VsockConnection connection) => UpdateAndPump(() =>
    {
        if (connection.State == VsockConnectionState.Closed) return;
        _logger.LogDebug("vsock: guest port {Port} did not finish closing in time; reset", connection.PeerPort);
        RemoveConnectionLocked(connection, sendReset: true);
    });
}
