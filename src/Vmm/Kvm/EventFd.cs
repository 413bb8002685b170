namespace Spinbox.Vmm.Kvm;

/// <summary>A Linux eventfd: the kick and interrupt channel between KVM and the device models.</summary>
public sealed class EventFd : IDisposable
{
    private int _fd;

    public EventFd(bool nonBlocking = true) => _fd = Native.CreateEventFd(nonBlocking);

    public int Fd => _fd;

    public void Signal() => Native.WriteU64(_fd, 1);

    /// <summary>Reads and clears the counter; false when it was zero (non-blocking fd).</summary>
    public bool TryConsume() => Native.TryReadU64(_fd, out ulong value) && value > 0;

    public void Dispose() => Native.Close(Interlocked.Exchange(ref _fd, -1));
}
