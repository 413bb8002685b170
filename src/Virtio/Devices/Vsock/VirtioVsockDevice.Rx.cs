using Microsoft.Extensions.Logging;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>Device-to-guest direction: filling the guest's rx buffers with queued packets.</summary>
public sealed partial class VirtioVsockDevice
{
    /// <summary>
    /// Raises the interrupt of each queue that got used buffers. Done under the device lock: the transport's
    /// signal consults Virtqueue.ShouldSignal, which must not race with another thread's PushUsed on the
    /// same queue (with EVENT_IDX that could lose an interrupt). Transports only write an eventfd here.
    /// </summary>
    private void SignalUsedLocked()
    {
        var target = _interrupt;
        bool rx = _rxPushed, tx = _txPushed;
        _rxPushed = _txPushed = false;
        if (target is null) return;
        if (tx) target.Signal(TxQueue);
        if (rx) target.Signal(RxQueue);
    }

    /// <summary>Runs <paramref name="change"/> under the lock, then delivers what it made ready.</summary>
    private void UpdateAndPump(Action change)
    {
        lock (_gate)
        {
            change();
            PumpRxLocked();
            SignalUsedLocked();
        }
    }

    private void ScheduleLocked(VsockConnection connection)
    {
        if (connection.InReadyQueue || connection.State == VsockConnectionState.Closed) return;
        connection.InReadyQueue = true;
        _rxReady.Enqueue(connection);
    }

    /// <summary>Queues an RST from host port <paramref name="localPort"/> to guest port <paramref name="peerPort"/>.</summary>
    private void QueueResetLocked(uint localPort, uint peerPort)
    {
        if (_pendingResets.Count >= MaxPendingResets)
        {
            // A guest that floods bad packets and posts no rx buffers must not grow our memory.
            _logger.LogDebug("vsock: RST to guest port {Port} dropped, {Count} already pending", peerPort, _pendingResets.Count);
            return;
        }
        _pendingResets.Enqueue(new VsockPacketHeader(VsockProtocol.HostCid, _guestCid, localPort, peerPort, 0,
            VsockProtocol.TypeStream, VsockOp.Rst, 0, 0, 0));
    }

    /// <summary>Takes a connection out of the table (freeing its port); its stream sees EOF and writes fail.</summary>
    private void RemoveConnectionLocked(VsockConnection connection, bool sendReset)
    {
        if (connection.State == VsockConnectionState.Closed) return;
        _connections.Remove((connection.LocalPort, connection.PeerPort));
        connection.State = VsockConnectionState.Closed;
        connection.Outbound.Clear();
        connection.CloseTimer?.Dispose();
        connection.CloseTimer = null;
        if (sendReset) QueueResetLocked(connection.LocalPort, connection.PeerPort);
        connection.Readable.Pulse();
        connection.Writable.Pulse();
    }

    private bool HasRxWorkLocked()
    {
        if (_pendingResets.Count > 0) return true;
        while (_rxReady.TryPeek(out var head))
        {
            if (head.HasRxWork) return true;
            _rxReady.Dequeue();
            head.InReadyQueue = false; // rescheduled when its state changes
        }
        return false;
    }

    /// <summary>Puts queued packets into rx buffers until either runs out.</summary>
    private void PumpRxLocked()
    {
        if (_memory is null || _rxQueue is null) return;
        try
        {
            while (HasRxWorkLocked() && _rxQueue.TryPop(out var chain))
                FillRxChainLocked(_memory, _rxQueue, chain);
        }
        catch (VirtqueueException e)
        {
            _logger.LogError("vsock: rx queue is corrupt ({Reason}); no more packets reach the guest until it resets the device", e.Message);
            _rxQueue = null;
        }
    }

    private void FillRxChainLocked(IGuestMemory memory, Virtqueue queue, DescriptorChain chain)
    {
        var writer = new ChainWriter(memory, chain);
        long room = writer.Remaining;
        if (room < VsockProtocol.HeaderSize)
        {
            // Unusable buffer: hand it back empty; the driver drops it and posts another.
            _logger.LogDebug("vsock: rx buffer of {Room} bytes is smaller than a packet header", room);
            queue.PushUsed(chain.HeadIndex, 0);
            _rxPushed = true;
            return;
        }

        VsockConnection? connection = null;
        VsockPacketHeader header;
        int payload = 0;
        if (_pendingResets.Count > 0) header = _pendingResets.Dequeue();
        else
        {
            connection = _rxReady.Dequeue();
            connection.InReadyQueue = false;
            int maxPayload = (int)Math.Min(room - VsockProtocol.HeaderSize, VsockProtocol.MaxPayload);
            header = connection.TakeRxPacket(_guestCid, maxPayload, out payload);
        }

        uint written = 0;
        int left = payload;
        try
        {
            Span<byte> raw = stackalloc byte[VsockProtocol.HeaderSize];
            header.WriteTo(raw);
            writer.Write(raw);
            while (left > 0)
            {
                var data = connection!.Outbound.GetReadSpan();
                int n = Math.Min(data.Length, left);
                writer.Write(data[..n]);
                connection.Outbound.Consume(n);
                left -= n;
            }
            written = writer.Written;
        }
        catch (GuestMemoryException e)
        {
            _logger.LogWarning("vsock: rx buffer outside guest RAM ({Reason}); packet dropped", e.Message);
            if (connection is not null && left > 0)
            {
                connection.Outbound.Consume(left);
                RemoveConnectionLocked(connection, sendReset: true); // the byte stream now has a hole
            }
        }
        queue.PushUsed(chain.HeadIndex, written);
        _rxPushed = true;

        if (connection is null) return;
        if (payload > 0) connection.Writable.Pulse();
        if (connection.HasRxWork) ScheduleLocked(connection);
    }
}
