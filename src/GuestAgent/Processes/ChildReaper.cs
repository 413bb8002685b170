using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;

namespace Spinbox.GuestAgent.Processes;

/// <summary>
/// As PID 1 the agent inherits every orphan, so one thread reaps all children with waitpid(-1) and
/// hands each status to whoever waits for that pid. A status nobody waits for yet is kept (a fast
/// child can exit before its waiter registers). Each reap gets a sequence number so a waiter that
/// adopts a pid it did not spawn (a container's init, reparented when crun exits) can tell a fresh
/// status from a stale one left by an earlier process that had the same pid.
/// </summary>
internal sealed class ChildReaper
{
    private const int MaxUnclaimed = 1024;

    private readonly object _gate = new();
    private readonly Dictionary<int, TaskCompletionSource<ChildExit>> _waiters = new();
    private readonly Dictionary<int, (ChildExit Exit, long Sequence)> _unclaimed = new();
    private readonly AutoResetEvent _childAdded = new(false);
    private long _sequence;
    private Thread? _thread;

    /// <summary>The number of statuses reaped so far; pass it to <see cref="Adopt"/>.</summary>
    public long Sequence
    {
        get
        {
            lock (_gate)
            {
                return _sequence;
            }
        }
    }

    public void Start()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = "reaper" };
        _thread.Start();
    }

    /// <summary>Runs <paramref name="spawn"/> (which returns a child pid) and watches that pid. The lock
    /// is held across the spawn so the reaper cannot report the child before it is watched.</summary>
    public (int Pid, Task<ChildExit> Exit) SpawnWatched(Func<int> spawn)
    {
        int pid;
        Task<ChildExit> exit;
        lock (_gate)
        {
            pid = spawn();
            // Any kept status for this pid belongs to an earlier process: the kernel reused the pid.
            _unclaimed.Remove(pid);
            var tcs = new TaskCompletionSource<ChildExit>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters[pid] = tcs;
            exit = tcs.Task;
        }

        _childAdded.Set();
        return (pid, exit);
    }

    /// <summary>Watches a pid that became our child by reparenting. Only statuses reaped after
    /// <paramref name="sinceSequence"/> count as this process's exit.</summary>
    public Task<ChildExit> Adopt(int pid, long sinceSequence)
    {
        lock (_gate)
        {
            if (_waiters.TryGetValue(pid, out var existing))
            {
                return existing.Task;
            }

            if (_unclaimed.Remove(pid, out var kept) && kept.Sequence > sinceSequence)
            {
                return Task.FromResult(kept.Exit);
            }

            var tcs = new TaskCompletionSource<ChildExit>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters[pid] = tcs;
            return tcs.Task;
        }
    }

    /// <summary>Feeds one reaped status in; public for tests, the reaper thread is the only caller in the agent.</summary>
    public void Dispatch(int pid, int rawStatus)
    {
        var exit = new ChildExit(pid, ExitStatus.FromWaitStatus(rawStatus), UnixNanoNow());
        TaskCompletionSource<ChildExit>? waiter;
        lock (_gate)
        {
            _sequence++;
            if (_waiters.Remove(pid, out waiter))
            {
                // Completed outside the lock.
            }
            else
            {
                _unclaimed[pid] = (exit, _sequence);
                if (_unclaimed.Count > MaxUnclaimed)
                {
                    DropOldestUnclaimed();
                }
            }
        }

        waiter?.TrySetResult(exit);
    }

    public static long UnixNanoNow() => (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;

    private void DropOldestUnclaimed()
    {
        int oldestPid = 0;
        long oldest = long.MaxValue;
        foreach (var (pid, entry) in _unclaimed)
        {
            if (entry.Sequence < oldest)
            {
                oldest = entry.Sequence;
                oldestPid = pid;
            }
        }

        _unclaimed.Remove(oldestPid);
    }

    private void Loop()
    {
        while (true)
        {
            var (pid, status, errno) = Libc.WaitAnyChild();
            if (pid > 0)
            {
                Dispatch(pid, status);
            }
            else if (errno == Libc.ECHILD)
            {
                // No children: nothing can be reparented to us either until we spawn again.
                _childAdded.WaitOne(TimeSpan.FromSeconds(1));
            }
            else if (errno != Libc.EINTR)
            {
                AgentLog.Error($"waitpid failed with errno {errno}");
                Thread.Sleep(100);
            }
        }
    }
}
