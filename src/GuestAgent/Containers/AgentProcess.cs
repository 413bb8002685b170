using Spinbox.Agent.V1;
using Spinbox.GuestAgent.Processes;

namespace Spinbox.GuestAgent.Containers;

/// <summary>
/// One process the agent manages (a container's init or an exec), with explicit states like the
/// runc shim's: created (no pid yet for an exec; init waits in crun's exec fifo), running, stopped.
/// </summary>
internal sealed class AgentProcess(string containerId, string execId)
{
    private readonly TaskCompletionSource<ChildExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _started;

    public string ContainerId { get; } = containerId;

    public string ExecId { get; } = execId;

    public int Pid { get; private set; }

    public bool IsInit => ExecId.Length == 0;

    /// <summary>Stdio connected at create/exec time and handed to crun at start (execs only).</summary>
    public StdioConnections? PendingStdio { get; set; }

    /// <summary>For an exec: the OCI process file written at ExecProcess.</summary>
    public string? ProcessJsonPath { get; set; }

    public Task<ChildExit> Exited => _exited.Task;

    public bool HasExited => _exited.Task.IsCompleted;

    public ProcessStatus Status =>
        HasExited ? ProcessStatus.Stopped :
        _started ? ProcessStatus.Running :
        ProcessStatus.Created;

    /// <summary>The process exists (init after crun create, exec after crun exec) and its exit is watched.</summary>
    public void Attach(int pid, Task<ChildExit> exit)
    {
        Pid = pid;
        exit.ContinueWith(t => _exited.TrySetResult(t.Result), TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion);
    }

    public void MarkStarted() => _started = true;

    /// <summary>Wakes waiters of a process that is deleted without ever having run.</summary>
    public void Abandon() => _exited.TrySetResult(new ChildExit(Pid, 255, ChildReaper.UnixNanoNow()));

    /// <summary>The exit as reported; zeros for a process that never ran (an exec deleted before start).</summary>
    public ExitResponse ExitResponse()
    {
        var response = new ExitResponse { Pid = (uint)Pid };
        if (HasExited)
        {
            response.ExitStatus = _exited.Task.Result.ExitStatus;
            response.ExitedAtUnixNano = _exited.Task.Result.ExitedAtUnixNano;
        }

        return response;
    }

    public StateResponse State()
    {
        var state = new StateResponse { Pid = (uint)Pid, Status = Status };
        if (HasExited)
        {
            state.ExitStatus = _exited.Task.Result.ExitStatus;
            state.ExitedAtUnixNano = _exited.Task.Result.ExitedAtUnixNano;
        }

        return state;
    }
}
