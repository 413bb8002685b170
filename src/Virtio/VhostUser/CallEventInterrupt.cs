namespace Spinbox.Virtio.VhostUser;

/// <summary>
/// Raises a queue's interrupt by writing its call eventfd, unless the guest suppressed it
/// (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with VIRTIO_RING_F_EVENT_IDX): see Virtqueue.ShouldSignal.
/// Call it from the thread that pushed the used buffers.
/// </summary>
internal sealed class CallEventInterrupt(IReadOnlyList<VringState> rings) : IInterruptSignal
{
    public void Signal(int queueIndex)
    {
        if ((uint)queueIndex >= (uint)rings.Count) return;
        var ring = rings[queueIndex];
        var queue = ring.Queue;
        if (queue == null || !queue.ShouldSignal()) return;
        var call = ring.Call;
        if (call != null) UnixInterop.SignalEventFd(call);
    }
}
