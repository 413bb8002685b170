using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio;

/// <summary>
/// A virtio device model. It never knows its transport: virtio-mmio in the kvm backend, vhost-user in
/// the tcg backend. The transport owns feature negotiation and queue setup, then hands the device its
/// queues; the guest's kicks arrive as ProcessQueue calls, and the device raises a queue's interrupt
/// through <see cref="IInterruptSignal"/>.
/// </summary>
public interface IVirtioDevice : IDisposable
{
    /// <summary>Virtio device id (2 = block, 4 = entropy, 19 = socket).</summary>
    uint DeviceType { get; }

    /// <summary>Offered feature bits; always includes VIRTIO_F_VERSION_1 (bit 32).</summary>
    ulong DeviceFeatures { get; }

    int QueueCount { get; }

    ushort MaxQueueSize { get; }

    /// <summary>Reads device config space; bytes beyond the config's end read as zero.</summary>
    void ReadConfig(uint offset, Span<byte> data);

    /// <summary>Writes device config space; writes to read-only fields are ignored.</summary>
    void WriteConfig(uint offset, ReadOnlySpan<byte> data);

    /// <summary>Called once the driver set DRIVER_OK (or the vhost-user front end started the rings).</summary>
    void Activate(IGuestMemory memory, ulong ackedFeatures, IReadOnlyList<Virtqueue> queues, IInterruptSignal interrupt);

    /// <summary>The guest notified queue <paramref name="queueIndex"/>. Called on the transport's thread.</summary>
    void ProcessQueue(int queueIndex);

    /// <summary>Device reset by the driver: drop queues and in-flight state.</summary>
    void Reset();
}

/// <summary>
/// Raises the used-buffer interrupt of one queue (irqfd, call eventfd, or mmio interrupt status). Devices call
/// it after pushing used buffers, from the thread that pushed them; the transport asks the queue's
/// Virtqueue.ShouldSignal() (NO_INTERRUPT / used_event suppression) and raises nothing when it says no.
/// </summary>
public interface IInterruptSignal
{
    void Signal(int queueIndex);
}
