using Google.Protobuf.WellKnownTypes;
using Spinbox.Shim.Io;

namespace Spinbox.Shim.Service;

/// <summary>States of a process, as containerd's runc shim models them.</summary>
public enum ProcessState { Created, Running, Stopped, Deleted }

/// <summary>One process of the task: the container's init (ExecId "") or an exec.</summary>
public sealed class ShimProcess(string execId, uint pid, ProcessIo io, string stdin, string stdout, string stderr, bool terminal)
{
    private readonly TaskCompletionSource<(uint Status, Timestamp At)> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string ExecId { get; } = execId;
    public uint Pid { get; set; } = pid;
    public ProcessIo Io { get; } = io;
    public string Stdin { get; } = stdin;
    public string Stdout { get; } = stdout;
    public string Stderr { get; } = stderr;
    public bool Terminal { get; } = terminal;
    public ProcessState State { get; set; } = ProcessState.Created;

    public Task<(uint Status, Timestamp At)> Exited => _exit.Task;

    public bool HasExited => _exit.Task.IsCompleted;

    public void SetExited(uint status, Timestamp at)
    {
        State = ProcessState.Stopped;
        _exit.TrySetResult((status, at));
    }
}
