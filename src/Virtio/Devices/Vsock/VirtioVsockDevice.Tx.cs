using Microsoft.Extensions.Logging;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>Guest-to-device direction: parsing and acting on the packets the guest put on the tx queue.</summary>
public sealed partial class VirtioVsockDevice
{
    /// <summary>More than this many connections and new guest requests get RST (bounds a guest's memory use).</summary>
    private const int MaxConnections = 4096;

    private void DrainTxLocked()
    {
        if (_memory is null || _txQueue is null) return;
        try
        {
            while (_txQueue.TryPop(out var chain))
            {
                try
                {
                    HandleTxChainLocked(_memory, chain);
                }
                catch (GuestMemoryException e)
                {
                    _logger.LogWarning("vsock: tx packet with a buffer outside guest RAM dropped ({Reason})", e.Message);
                }
                _txQueue.PushUsed(chain.HeadIndex, 0);
                _txPushed = true;
            }
        }
        catch (VirtqueueException e)
        {
            _logger.LogError("vsock: tx queue is corrupt ({Reason}); guest packets are ignored until it resets the device", e.Message);
            _txQueue = null;
        }
    }

    private void HandleTxChainLocked(IGuestMemory memory, DescriptorChain chain)
    {
        var reader = new ChainReader(memory, chain);
        Span<byte> raw = stackalloc byte[VsockProtocol.HeaderSize];
        if (!reader.TryReadExactly(raw))
        {
            _logger.LogDebug("vsock: tx chain of {Length} bytes is shorter than a packet header; ignored", chain.TotalReadableLength);
            return;
        }
        var h = VsockPacketHeader.Parse(raw);
        _connections.TryGetValue((h.DstPort, h.SrcPort), out var connection);

        if (h.SrcCid != _guestCid || h.DstCid != VsockProtocol.HostCid)
        {
            _logger.LogDebug("vsock: packet from CID {Src} to CID {Dst} ignored (guest is {Guest}, host is 2)", h.SrcCid, h.DstCid, _guestCid);
            return;
        }
        if (h.Length > VsockProtocol.MaxPayload || h.Length > reader.Remaining)
        {
            _logger.LogWarning("vsock: packet len {Len} exceeds its buffer ({Remaining} bytes) or the {Max}-byte limit; ignored",
                h.Length, reader.Remaining, VsockProtocol.MaxPayload);
            // Lost RW bytes would leave a hole in the stream: end that connection instead.
            if (connection is not null && h.Op == VsockOp.Rw) RemoveConnectionLocked(connection, sendReset: true);
            return;
        }
        if (h.Type != VsockProtocol.TypeStream)
        {
            _logger.LogDebug("vsock: packet type {Type} is not STREAM; reset", h.Type);
            if (h.Op != VsockOp.Rst) QueueResetLocked(h.DstPort, h.SrcPort);
            return;
        }

        if (connection is not null && h.Op == VsockOp.Request && connection.State != VsockConnectionState.Connecting)
        {
            // The guest opens a tuple we still hold, so it has forgotten the old socket (its RST got lost, or
            // it closed and reused the port while we waited): the old stream ends, the new request is served.
            _logger.LogDebug("vsock: guest port {Guest} reconnects to host port {Host}; the old connection ends", h.SrcPort, h.DstPort);
            RemoveConnectionLocked(connection, sendReset: false);
            connection = null;
        }
        if (connection is null) HandleUnknownConnectionLocked(h);
        else
        {
            connection.PeerBufAlloc = h.BufAlloc; // every header carries the guest's current window
            connection.PeerFwdCnt = h.FwdCnt;
            switch (connection.State)
            {
                case VsockConnectionState.Connecting: HandleConnectingLocked(connection, h); break;
                case VsockConnectionState.Established: HandleEstablishedLocked(connection, h, reader); break;
                case VsockConnectionState.Closing: HandleClosingLocked(connection, h); break;
            }
            ScheduleLocked(connection); // new credit may let queued data go out
        }
    }

    private void HandleUnknownConnectionLocked(in VsockPacketHeader h)
    {
        if (h.Op == VsockOp.Rst) return; // never answer an RST
        if (h.Op != VsockOp.Request)
        {
            _logger.LogDebug("vsock: {Op} for unknown connection {Guest}->{Host}; reset", h.Op, h.SrcPort, h.DstPort);
            QueueResetLocked(h.DstPort, h.SrcPort);
            return;
        }
        if (!_listeners.TryGetValue(h.DstPort, out var listener))
        {
            _logger.LogDebug("vsock: guest port {Guest} connected to host port {Host} with no listener; reset", h.SrcPort, h.DstPort);
            QueueResetLocked(h.DstPort, h.SrcPort);
            return;
        }
        if (_connections.Count >= MaxConnections)
        {
            _logger.LogWarning("vsock: {Count} connections open; refusing guest port {Guest}", _connections.Count, h.SrcPort);
            QueueResetLocked(h.DstPort, h.SrcPort);
            return;
        }

        var connection = new VsockConnection(h.DstPort, h.SrcPort, BufferSize)
        {
            State = VsockConnectionState.Established,
            NeedResponse = true,
            PeerBufAlloc = h.BufAlloc,
            PeerFwdCnt = h.FwdCnt,
        };
        var stream = new VsockStream(this, connection);
        connection.Stream = stream;
        _connections.Add((connection.LocalPort, connection.PeerPort), connection);
        ScheduleLocked(connection);

        // The host's handler runs on the thread pool: the transport thread never waits for it.
        var callback = listener.Callback;
        var logger = _logger;
        ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            try { callback(stream); }
            catch (Exception e)
            {
                logger.LogError(e, "vsock: listener for host port {Port} threw; connection closed", stream.LocalPort);
                stream.Dispose();
            }
        }, null);
    }

    private void HandleConnectingLocked(VsockConnection connection, in VsockPacketHeader h)
    {
        if (connection.NeedRequest) return; // our REQUEST is not out yet: nothing from the guest can answer it
        switch (h.Op)
        {
            case VsockOp.Response:
                connection.State = VsockConnectionState.Established;
                connection.Stream = new VsockStream(this, connection);
                connection.PendingConnect?.TrySetResult(connection.Stream);
                break;
            case VsockOp.Rst:
                RemoveConnectionLocked(connection, sendReset: false);
                connection.PendingConnect?.TrySetException(new IOException($"guest refused the connection to vsock port {connection.PeerPort}"));
                break;
            default:
                RemoveConnectionLocked(connection, sendReset: true);
                connection.PendingConnect?.TrySetException(
                    new IOException($"guest answered a connect to vsock port {connection.PeerPort} with {h.Op} instead of RESPONSE"));
                break;
        }
    }

    private void HandleEstablishedLocked(VsockConnection connection, in VsockPacketHeader h, ChainReader reader)
    {
        switch (h.Op)
        {
            case VsockOp.Rw:
                ReceiveDataLocked(connection, (int)h.Length, reader);
                break;
            case VsockOp.CreditRequest:
                connection.NeedCreditUpdate = true;
                break;
            case VsockOp.CreditUpdate:
                break; // the window was taken from the header already
            case VsockOp.Shutdown:
                if ((h.Flags & VsockProtocol.ShutdownReceive) != 0)
                {
                    connection.PeerReceiveShutdown = true;
                    connection.Outbound.Clear(); // the guest will not read it
                    connection.Writable.Pulse();
                }
                if ((h.Flags & VsockProtocol.ShutdownSend) != 0)
                {
                    connection.PeerSendShutdown = true;
                    connection.Readable.Pulse();
                }
                // Both directions closed: Linux waits for our RST to finish its close(), as with TCP's last ACK.
                if (connection.PeerReceiveShutdown && connection.PeerSendShutdown) RemoveConnectionLocked(connection, sendReset: true);
                break;
            case VsockOp.Rst:
                RemoveConnectionLocked(connection, sendReset: false);
                break;
            default:
                _logger.LogDebug("vsock: unexpected {Op} on an open connection ignored", h.Op);
                break;
        }
    }

    private void HandleClosingLocked(VsockConnection connection, in VsockPacketHeader h)
    {
        // We sent SHUTDOWN both ways; only the guest's RST (or its own SHUTDOWN) ends the wait.
        if (h.Op == VsockOp.Rst) RemoveConnectionLocked(connection, sendReset: false);
        else if (h.Op == VsockOp.Shutdown && (h.Flags & VsockProtocol.ShutdownBoth) == VsockProtocol.ShutdownBoth)
            RemoveConnectionLocked(connection, sendReset: true);
    }

    private void ReceiveDataLocked(VsockConnection connection, int length, ChainReader reader)
    {
        if (length == 0) return;
        if (connection.LocalClosed) return; // nobody will read it
        if (length > connection.Inbound.Free)
        {
            _logger.LogWarning("vsock: guest port {Guest} sent {Len} bytes to host port {Host} with only {Free} bytes of credit; reset",
                connection.PeerPort, length, connection.LocalPort, connection.Inbound.Free);
            RemoveConnectionLocked(connection, sendReset: true);
            return;
        }
        try
        {
            int left = length;
            while (left > 0)
            {
                var span = connection.Inbound.GetWriteSpan(left);
                int n = reader.Read(span); // the chain was checked to hold `length` bytes
                if (n == 0) throw new GuestMemoryException("tx chain ended before its payload");
                connection.Inbound.Commit(n);
                left -= n;
            }
        }
        catch (GuestMemoryException e)
        {
            _logger.LogWarning("vsock: RW payload outside guest RAM ({Reason}); connection reset", e.Message);
            RemoveConnectionLocked(connection, sendReset: true);
            return;
        }
        connection.Readable.Pulse();
    }
}
