using Containerd.Task.V2;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Spinbox.Shim.Commands;
using Spinbox.Shim.Config;
using Spinbox.Shim.Events;
using Spinbox.Ttrpc;
using ContainerdStatus = Containerd.V1.Types.Status;

namespace Spinbox.Shim.Service;

/// <summary>
/// containerd.task.v2.Task for one container: maps each call onto the container's VM and its agent.
/// One container per shim; its processes are the init (exec id "") and execs.
/// </summary>
public sealed partial class TaskService : IAsyncDisposable
{
    private const string ServiceName = "containerd.task.v2.Task";
    private readonly ShimArguments _args;
    private readonly SpinboxConfig _config;
    private readonly ShimPaths _paths;
    private readonly EventPublisher _events;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly Action _exitShim;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Container? _container;

    public TaskService(ShimArguments args, SpinboxConfig config, ShimPaths paths, EventPublisher events, ILoggerFactory loggers, Action exitShim)
    {
        _args = args; _config = config; _paths = paths; _events = events; _loggers = loggers;
        _logger = loggers.CreateLogger("task"); _exitShim = exitShim;
    }

    public void Register(TtrpcServer server)
    {
        server.Register<CreateTaskRequest, CreateTaskResponse>(ServiceName, "Create", CreateTaskRequest.Parser, (r, _) => Guarded(() => CreateAsync(r)));
        server.Register<StartRequest, StartResponse>(ServiceName, "Start", StartRequest.Parser, (r, _) => Guarded(() => StartAsync(r)));
        server.Register<DeleteRequest, DeleteResponse>(ServiceName, "Delete", DeleteRequest.Parser, (r, _) => Guarded(() => DeleteAsync(r)));
        server.Register<StateRequest, StateResponse>(ServiceName, "State", StateRequest.Parser, (r, _) => Guarded(() => StateAsync(r)));
        server.Register<WaitRequest, WaitResponse>(ServiceName, "Wait", WaitRequest.Parser, (r, c) => WaitAsync(r, c.CancellationToken));
        server.Register<KillRequest, Empty>(ServiceName, "Kill", KillRequest.Parser, (r, _) => KillAsync(r));
        server.Register<PidsRequest, PidsResponse>(ServiceName, "Pids", PidsRequest.Parser, (r, _) => PidsAsync(r));
        server.Register<ExecProcessRequest, Empty>(ServiceName, "Exec", ExecProcessRequest.Parser, (r, _) => Guarded(() => ExecAsync(r)));
        server.Register<CloseIORequest, Empty>(ServiceName, "CloseIO", CloseIORequest.Parser, (r, _) => CloseIoAsync(r));
        server.Register<ResizePtyRequest, Empty>(ServiceName, "ResizePty", ResizePtyRequest.Parser, (r, _) => ResizePtyAsync(r));
        server.Register<ConnectRequest, ConnectResponse>(ServiceName, "Connect", ConnectRequest.Parser, (r, _) => Task.FromResult(Connect(r)));
        server.Register<ShutdownRequest, Empty>(ServiceName, "Shutdown", ShutdownRequest.Parser, (r, _) => ShutdownAsync(r));
        server.Register<PauseRequest, Empty>(ServiceName, "Pause", PauseRequest.Parser, (_, _) => NotImplemented<Empty>("Pause"));
        server.Register<ResumeRequest, Empty>(ServiceName, "Resume", ResumeRequest.Parser, (_, _) => NotImplemented<Empty>("Resume"));
        server.Register<CheckpointTaskRequest, Empty>(ServiceName, "Checkpoint", CheckpointTaskRequest.Parser, (_, _) => NotImplemented<Empty>("Checkpoint"));
        server.Register<UpdateTaskRequest, Empty>(ServiceName, "Update", UpdateTaskRequest.Parser, (_, _) => NotImplemented<Empty>("Update"));
        server.Register<StatsRequest, StatsResponse>(ServiceName, "Stats", StatsRequest.Parser, (_, _) => NotImplemented<StatsResponse>("Stats"));
    }

    private static Task<T> NotImplemented<T>(string method) =>
        Task.FromException<T>(new TtrpcException(TtrpcStatusCode.Unimplemented, $"spinbox: {method} is not implemented yet"));

    /// <summary>State-changing calls run one at a time.</summary>
    private async Task<T> Guarded<T>(Func<Task<T>> body)
    {
        await _gate.WaitAsync();
        try { return await body(); }
        finally { _gate.Release(); }
    }

    private Container RequireContainer(string id)
    {
        if (_container is { } c && c.Id == id) return c;
        throw new TtrpcException(TtrpcStatusCode.NotFound, $"container {id}: not found");
    }

    private ShimProcess RequireProcess(string id, string execId)
    {
        var c = RequireContainer(id);
        return c.Find(execId) ?? throw new TtrpcException(TtrpcStatusCode.NotFound, $"process {execId} of container {id}: not found");
    }

    private static ContainerdStatus ToStatus(ProcessState s) => s switch
    {
        ProcessState.Created => ContainerdStatus.Created,
        ProcessState.Running => ContainerdStatus.Running,
        ProcessState.Stopped => ContainerdStatus.Stopped,
        _ => ContainerdStatus.Unknown,
    };

    private Task<StateResponse> StateAsync(StateRequest r)
    {
        var c = RequireContainer(r.Id);
        var p = RequireProcess(r.Id, r.ExecId);
        var resp = new StateResponse
        {
            Id = r.ExecId.Length > 0 ? r.ExecId : r.Id, Bundle = c.Bundle, Pid = p.Pid, Status = ToStatus(p.State),
            Stdin = p.Stdin, Stdout = p.Stdout, Stderr = p.Stderr, Terminal = p.Terminal, ExecId = r.ExecId,
        };
        if (p.HasExited)
        {
            var (status, at) = p.Exited.Result;
            resp.ExitStatus = status; resp.ExitedAt = at;
        }
        return Task.FromResult(resp);
    }

    private async Task<WaitResponse> WaitAsync(WaitRequest r, CancellationToken ct)
    {
        var p = RequireProcess(r.Id, r.ExecId);
        var (status, at) = await p.Exited.WaitAsync(ct);
        return new WaitResponse { ExitStatus = status, ExitedAt = at };
    }

    private ConnectResponse Connect(ConnectRequest r)
    {
        var c = _container;
        return new ConnectResponse
        {
            ShimPid = (uint)Environment.ProcessId,
            TaskPid = c is not null && c.Id == r.Id ? c.Init.Pid : 0,
            Version = "spinbox-v1",
        };
    }

    private Task<Empty> ShutdownAsync(ShutdownRequest r)
    {
        // Like runc's shim: stay while a task exists, unless containerd insists.
        if (_container is null || r.Now)
        {
            _logger.LogInformation("shutdown requested (now={Now})", r.Now);
            _ = Task.Run(async () => { await Task.Delay(50); _exitShim(); });
        }
        return Task.FromResult(new Empty());
    }

    public async ValueTask DisposeAsync()
    {
        var c = Interlocked.Exchange(ref _container, null);
        if (c is not null) await c.DisposeAsync();
    }
}
