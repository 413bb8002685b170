using Spinbox.Virtio;
using Spinbox.Virtio.Queue;
using Spinbox.Vmm.Devices;

namespace Spinbox.Vmm.VirtioMmio;

/// <summary>
/// The transport's interrupt: unless the queue suppresses it (Virtqueue.ShouldSignal: NO_INTERRUPT or
/// used_event), sets the used-buffer bit in InterruptStatus and pulses the device's line (an irqfd).
/// Called by the device on the thread that pushed the used buffers.
/// </summary>
internal sealed class VirtioMmioInterrupt(IInterruptLine line) : IInterruptSignal
{
    private int _status;
    private IReadOnlyList<Virtqueue> _queues = [];

    public uint Status => (uint)Volatile.Read(ref _status);

    /// <summary>The queues of the activated device (empty after reset).</summary>
    public void SetQueues(IReadOnlyList<Virtqueue> queues) => Volatile.Write(ref _queues, queues);

    public void Signal(int queueIndex)
    {
        var queues = Volatile.Read(ref _queues);
        if ((uint)queueIndex < (uint)queues.Count && !queues[queueIndex].ShouldSignal()) return;
        Raise(VirtioMmioRegisters.InterruptUsedBuffer);
    }

    public void RaiseConfigChange() => Raise(VirtioMmioRegisters.InterruptConfigChange);

    public void Acknowledge(uint bits) => Interlocked.And(ref _status, ~(int)bits);

    public void Clear()
    {
        Volatile.Write(ref _status, 0);
        SetQueues([]);
    }

    private void Raise(uint bit)
    {
        Interlocked.Or(ref _status, (int)bit);
        line.Raise();
    }
}
