using Microsoft.Extensions.Logging;

namespace Spinbox.Virtio.VhostUser;

/// <summary>
/// One worker thread that waits on every ring's kick eventfd and reports which ring the guest kicked.
/// The fd set is re-read after <see cref="Refresh"/>; fds in use are reference-held, so the message thread
/// may replace (and dispose) a kick fd at any time without the poller touching a reused fd number.
/// </summary>
internal sealed class KickPoller : IDisposable
{
    private readonly Func<IReadOnlyList<(int Ring, OwnedFd Fd)>> _snapshot;
    private readonly Action<int> _onKick;
    private readonly ILogger _logger;
    private readonly OwnedFd _wake = UnixInterop.CreateEventFd();
    private readonly Thread _thread;
    private volatile bool _stopping;

    public KickPoller(Func<IReadOnlyList<(int Ring, OwnedFd Fd)>> snapshot, Action<int> onKick, ILogger logger, string name)
    {
        _snapshot = snapshot;
        _onKick = onKick;
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Makes the poller re-read the kick fds.</summary>
    public void Refresh() => UnixInterop.SignalEventFd(_wake);

    private void Run()
    {
        var held = new List<(int Ring, OwnedFd Fd)>();
        try
        {
            while (!_stopping)
            {
                Hold(held);
                var pollFds = new UnixInterop.PollFd[held.Count + 1];
                pollFds[0] = new UnixInterop.PollFd { Fd = _wake.Fd, Events = UnixInterop.POLLIN };
                for (int i = 0; i < held.Count; i++)
                    pollFds[i + 1] = new UnixInterop.PollFd { Fd = held[i].Fd.Fd, Events = UnixInterop.POLLIN };
                bool refresh = false;
                while (!refresh && !_stopping)
                {
                    UnixInterop.Poll(pollFds, -1);
                    if (pollFds[0].Revents != 0) { UnixInterop.DrainEventFd(_wake); refresh = true; }
                    for (int i = 1; i < pollFds.Length; i++)
                    {
                        short revents = pollFds[i].Revents;
                        if (revents == 0) continue;
                        if ((revents & (UnixInterop.POLLERR | UnixInterop.POLLHUP | UnixInterop.POLLNVAL)) != 0)
                        {
                            _logger.LogWarning("vhost-user: kick fd of ring {Ring} reported poll error 0x{Revents:x}; ignoring it", held[i - 1].Ring, revents);
                            pollFds[i].Fd = -1; // poll skips negative fds
                            continue;
                        }
                        UnixInterop.DrainEventFd(held[i - 1].Fd);
                        _onKick(held[i - 1].Ring);
                    }
                    foreach (ref var p in pollFds.AsSpan()) p.Revents = 0;
                }
            }
        }
        catch (Exception e)
        {
            _logger.LogError(e, "vhost-user: kick poller stopped");
        }
        finally
        {
            Release(held);
        }
    }

    private void Hold(List<(int Ring, OwnedFd Fd)> held)
    {
        Release(held);
        foreach (var (ring, fd) in _snapshot())
        {
            bool added = false;
            try { fd.DangerousAddRef(ref added); }
            catch (ObjectDisposedException) { continue; }
            if (added) held.Add((ring, fd));
        }
    }

    private static void Release(List<(int Ring, OwnedFd Fd)> held)
    {
        foreach (var (_, fd) in held) fd.DangerousRelease();
        held.Clear();
    }

    public void Dispose()
    {
        _stopping = true;
        Refresh();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _wake.Dispose();
    }
}
