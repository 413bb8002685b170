using System.Diagnostics;

namespace Spinbox.Vmm.Tcg;

/// <summary>Start-up milestones of one VM, measured from the StartAsync call (monotonic clock).</summary>
public sealed class TcgVmTimings
{
    private readonly long _origin = Stopwatch.GetTimestamp();
    private long _spawned, _connected, _firstConsoleByte, _exited;

    /// <summary>QEMU's process was created.</summary>
    public TimeSpan? QemuSpawned => Read(Volatile.Read(ref _spawned));

    /// <summary>Every vhost-user back end had its front end connected (QEMU realized the devices).</summary>
    public TimeSpan? DevicesConnected => Read(Volatile.Read(ref _connected));

    /// <summary>The console log first became non-empty (polled every few milliseconds).</summary>
    public TimeSpan? FirstConsoleByte => Read(Volatile.Read(ref _firstConsoleByte));

    /// <summary>QEMU's process ended.</summary>
    public TimeSpan? Exited => Read(Volatile.Read(ref _exited));

    internal void MarkSpawned() => Mark(ref _spawned);
    internal void MarkConnected() => Mark(ref _connected);
    internal void MarkFirstConsoleByte() => Mark(ref _firstConsoleByte);
    internal void MarkExited() => Mark(ref _exited);

    private void Mark(ref long field) => Interlocked.CompareExchange(ref field, Stopwatch.GetTimestamp() - _origin, 0);

    private static TimeSpan? Read(long ticks) => ticks == 0 ? null : Stopwatch.GetElapsedTime(0, ticks);

    public override string ToString() =>
        $"spawned {Ms(QemuSpawned)}, devices connected {Ms(DevicesConnected)}, first console byte {Ms(FirstConsoleByte)}, exited {Ms(Exited)}";

    private static string Ms(TimeSpan? t) => t is { } v ? $"{v.TotalMilliseconds:F0} ms" : "-";
}
