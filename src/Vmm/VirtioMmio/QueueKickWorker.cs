using Microsoft.Extensions.Logging;
using Spinbox.Vmm.Kvm;

namespace Spinbox.Vmm.VirtioMmio;

/// <summary>
/// The transport's thread: waits on the queues' kick eventfds (KVM signals them on a QueueNotify write,
/// through ioeventfd) and hands each kick to the device.
/// </summary>
internal sealed class QueueKickWorker : IDisposable
{
    private readonly EventFd[] _kicks;
    private readonly EventFd _stop = new();
    private readonly Action<int> _onKick;
    private readonly ILogger _logger;
    private readonly Thread _thread;

    public QueueKickWorker(string name, EventFd[] kicks, Action<int> onKick, ILogger logger)
    {
        _kicks = kicks;
        _onKick = onKick;
        _logger = logger;
        _thread = new Thread(Loop) { Name = name, IsBackground = true };
    }

    public bool IsAlive => _thread.IsAlive;

    public void Start() => _thread.Start();

    private void Loop()
    {
        int[] fds = [_stop.Fd, .. _kicks.Select(k => k.Fd)];
        var readable = new bool[fds.Length];
        try
        {
            while (true)
            {
                Native.Poll(fds, readable, -1);
                if (readable[0]) return;
                for (int q = 0; q < _kicks.Length; q++)
                    if (readable[q + 1] && _kicks[q].TryConsume()) _onKick(q);
            }
        }
        catch (Exception e)
        {
            _logger.LogError(e, "{Thread} stopped on an unexpected error", _thread.Name);
        }
    }

    public void Stop()
    {
        if (!_thread.IsAlive) return;
        _stop.Signal();
        _thread.Join();
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
    }
}
