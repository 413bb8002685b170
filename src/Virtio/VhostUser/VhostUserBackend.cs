using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Spinbox.Virtio.VhostUser;

/// <summary>
/// A vhost-user back end serving one <see cref="IVirtioDevice"/> on a unix socket. The socket listens as
/// soon as the constructor returns (so the front end can be started right after); <see cref="RunAsync"/>
/// accepts exactly one front end and serves it until it disconnects. A front end that breaks the protocol
/// is disconnected with a logged reason; nothing it sends can crash this process.
/// </summary>
public sealed class VhostUserBackend : IDisposable
{
    private readonly IVirtioDevice _device;
    private readonly ILogger _logger;
    private readonly int _activeRingCount;
    private readonly OwnedFd _listener;
    private readonly OwnedFd _stop = UnixInterop.CreateEventFd();
    private readonly object _gate = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _run;
    private VhostUserSession? _session;
    private bool _socketRemoved;
    private int _disposed;

    /// <param name="device">The device model; the caller keeps ownership.</param>
    /// <param name="socketPath">Where to listen; must not exist yet. Removed once a front end connected, and on Dispose.</param>
    /// <param name="frontEndRingCount">
    /// How many rings the front end drives; the device is activated when all of them are ready. Defaults to
    /// the device's queue count, except vsock: QEMU's vhost-user-vsock keeps the event queue (ring 2) itself.
    /// </param>
    public VhostUserBackend(IVirtioDevice device, string socketPath, ILogger? logger = null, int? frontEndRingCount = null)
    {
        _device = device;
        _logger = logger ?? NullLogger.Instance;
        SocketPath = socketPath;
        _activeRingCount = frontEndRingCount ?? DefaultRingCount(device);
        if (_activeRingCount < 1 || _activeRingCount > device.QueueCount)
            throw new ArgumentOutOfRangeException(nameof(frontEndRingCount), $"front-end ring count {_activeRingCount} is not in 1..{device.QueueCount}");
        _listener = UnixInterop.ListenUnix(socketPath);
    }

    public string SocketPath { get; }

    /// <summary>Completes when a front end connected; canceled if serving ended before one did.</summary>
    public Task Connected => _connected.Task;

    /// <summary>True while a front end is connected and the device has its queues.</summary>
    public bool IsDeviceActive { get { lock (_gate) return _session?.IsActive ?? false; } }

    private static int DefaultRingCount(IVirtioDevice device) =>
        device.DeviceType == 19 && device.QueueCount == 3 ? 2 : device.QueueCount;

    /// <summary>
    /// Accepts one front end and serves it. Completes when it disconnects, when it broke the protocol (logged),
    /// or when <paramref name="cancellationToken"/> fires or the backend is disposed. Call once.
    /// </summary>
    public Task RunAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_run != null) throw new InvalidOperationException("RunAsync was already called");
            _run = Task.Factory.StartNew(() => Serve(cancellationToken), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default);
            return _run;
        }
    }

    private void Serve(CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.Register(() => UnixInterop.SignalEventFd(_stop));
        try { ServeOne(); }
        finally { _connected.TrySetCanceled(); }
    }

    private void ServeOne()
    {
        if (!WaitReadable(_listener)) return;
        VhostUserChannel channel;
        try { channel = new VhostUserChannel(UnixInterop.Accept(_listener)); }
        catch (IOException e) { _logger.LogError(e, "vhost-user: accept on {Path} failed", SocketPath); return; }
        RemoveSocket(); // one front end only: nobody else may connect
        _connected.TrySetResult();
        _logger.LogDebug("vhost-user: front end connected on {Path}", SocketPath);
        using (channel)
        {
            var session = new VhostUserSession(_device, channel, _activeRingCount, _logger);
            lock (_gate) _session = session;
            try
            {
                while (WaitReadable(channel.Socket))
                {
                    using var message = channel.Receive();
                    if (message == null)
                    {
                        _logger.LogDebug("vhost-user: front end on {Path} disconnected", SocketPath);
                        break;
                    }
                    session.Handle(message);
                }
            }
            catch (VhostUserProtocolException e)
            {
                _logger.LogError("vhost-user: dropping front end on {Path}: {Reason}", SocketPath, e.Message);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "vhost-user: dropping front end on {Path} after an error", SocketPath);
            }
            finally
            {
                lock (_gate) _session = null;
                session.Dispose();
            }
        }
    }

    /// <summary>Waits until <paramref name="fd"/> is readable; false when asked to stop.</summary>
    private bool WaitReadable(OwnedFd fd)
    {
        Span<UnixInterop.PollFd> fds = stackalloc UnixInterop.PollFd[2];
        fds[0] = new UnixInterop.PollFd { Fd = _stop.Fd, Events = UnixInterop.POLLIN };
        fds[1] = new UnixInterop.PollFd { Fd = fd.Fd, Events = UnixInterop.POLLIN };
        UnixInterop.Poll(fds, -1);
        return fds[0].Revents == 0;
    }

    private void RemoveSocket()
    {
        lock (_gate)
        {
            if (_socketRemoved) return;
            _socketRemoved = true;
            _listener.Dispose();
            try { File.Delete(SocketPath); }
            catch (IOException e) { _logger.LogWarning("vhost-user: could not remove {Path}: {Error}", SocketPath, e.Message); }
        }
    }

    /// <summary>Stops serving (the device is reset if it was active), closes every fd and removes the socket.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        UnixInterop.SignalEventFd(_stop);
        Task? run;
        lock (_gate) run = _run;
        if (run != null && !run.Wait(TimeSpan.FromSeconds(10)))
            _logger.LogError("vhost-user: serving {Path} did not stop within 10 s", SocketPath);
        RemoveSocket();
        _connected.TrySetCanceled();
        if (run == null || run.IsCompleted) _stop.Dispose();
    }
}
