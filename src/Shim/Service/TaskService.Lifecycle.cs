using Containerd.Events;
using Containerd.Task.V2;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Spinbox.Agent.V1;
using Empty = Google.Protobuf.WellKnownTypes.Empty;
using PidsResponse = Containerd.Task.V2.PidsResponse;
using ExecProcessRequest = Containerd.Task.V2.ExecProcessRequest;
using AgentExecRequest = Spinbox.Agent.V1.ExecProcessRequest;
using Spinbox.Shim.Io;
using Spinbox.Shim.Rootfs;
using Spinbox.Shim.Vm;
using Spinbox.Ttrpc;

namespace Spinbox.Shim.Service;

public sealed partial class TaskService
{
    private const long RootfsSpareBytes = 256L * 1024 * 1024;
    private const string RootfsSerial = "rootfs";

    private async Task<CreateTaskResponse> CreateAsync(CreateTaskRequest r)
    {
        if (_container is not null)
            throw new TtrpcException(TtrpcStatusCode.AlreadyExists, $"container {r.Id}: this shim already runs container {_container.Id}");
        var c = new Container(r.Id, r.Bundle, _paths, _logger);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long Lap() { long t = clock.ElapsedMilliseconds; clock.Restart(); return t; }
        try
        {
            Directory.CreateDirectory(_paths.State);
            var plan = await ContainerPlan.LoadAsync(r, _args, _config, _loggers.CreateLogger("settings"));
            string rootfs = Path.Combine(r.Bundle, "rootfs");
            var mounts = r.Rootfs.Select(m => new RootfsMounter.MountSpec(m.Type, m.Source, m.Options.ToList())).ToList();
            if (RootfsMounter.MountAll(mounts, rootfs))
            {
                c.MountedRootfs = rootfs;
                File.WriteAllText(_paths.RootfsMountRecord, rootfs);
            }
            ExecutableLookup.RequireCommand(plan.Spec, rootfs, plan.InjectedIntoContainer);
            long planMs = Lap();
            string image = Path.Combine(_paths.State, "rootfs.ext4");
            await Ext4ImageBuilder.BuildAsync(rootfs, image, RootfsSpareBytes, CancellationToken.None);
            long imageMs = Lap();

            var disks = new List<DiskSpec> { new(image, RootfsSerial, ReadOnly: false, HoldsPrograms: true) };
            disks.AddRange(plan.ExtraDisks);
            var spec = new SandboxSpec(disks, plan.Vcpus, plan.MemoryBytes, plan.KernelArgs, plan.Backend);
            c.Sandbox = await Sandbox.StartAsync(spec, _config, _paths, _loggers, CancellationToken.None);
            long vmMs = Lap();
            if (plan.Setup is { } setup)
            {
                if (setup.SupervisorLogPort != 0)
                    c.SupervisorLog = new SupervisorLogMirror(c.Sandbox.Vsock, setup.SupervisorLogPort, _paths.SupervisorLog, _logger);
                await c.Sandbox.Agent.SetupGuestAsync(setup);
            }

            var io = ProcessIo.Create(c.Sandbox.Vsock, c.AllocateStdioPorts(), r.Stdin, r.Stdout, r.Stderr, r.Terminal, _logger);
            c.Init = new ShimProcess("", 0, io, r.Stdin, r.Stdout, r.Stderr, r.Terminal);
            var created = await c.Sandbox.Agent.CreateContainerAsync(new CreateContainerRequest
            {
                ContainerId = r.Id,
                SpecJson = ByteString.CopyFrom(plan.SpecJson),
                Rootfs = new BlockRootfs { DiskSerial = RootfsSerial, Fstype = "ext4", Readonly = false },
                Stdio = io.Ports,
            });
            c.Init.Pid = created.Pid;
            _logger.LogInformation("create timings: settings+mount {Plan} ms, rootfs image {Image} ms, VM to agent ready {Vm} ms, guest setup+crun create {Create} ms",
                planMs, imageMs, vmMs, Lap());
            _container = c;
            WatchVm(c);
            var ev = new TaskCreate
            {
                ContainerId = r.Id, Bundle = r.Bundle, Pid = created.Pid, Checkpoint = r.Checkpoint,
                Io = new TaskIO { Stdin = r.Stdin, Stdout = r.Stdout, Stderr = r.Stderr, Terminal = r.Terminal },
            };
            ev.Rootfs.AddRange(r.Rootfs);
            _events.Publish("/tasks/create", ev);
            _logger.LogInformation("created container {Id} (guest pid {Pid}) on {Backend}", r.Id, created.Pid, c.Sandbox.Vm.Backend);
            return new CreateTaskResponse { Pid = created.Pid };
        }
        catch (Exception e)
        {
            _logger.LogError("create {Id} failed: {Error}", r.Id, e.Message);
            await c.DisposeAsync();
            throw Translate(e);
        }
    }

    private async Task<StartResponse> StartAsync(StartRequest r)
    {
        var c = RequireContainer(r.Id);
        var p = RequireProcess(r.Id, r.ExecId);
        if (p.State != ProcessState.Created)
            throw new TtrpcException(TtrpcStatusCode.FailedPrecondition, $"process {Describe(r.Id, r.ExecId)} is {p.State.ToString().ToLowerInvariant()}, not created");
        ProcessResponse started;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try { started = await c.Sandbox!.Agent.StartProcessAsync(new ProcessRef { ContainerId = r.Id, ExecId = r.ExecId }); }
        catch (Exception e) { throw Translate(e); }
        p.Pid = started.Pid;
        p.State = ProcessState.Running;
        _logger.LogInformation("started {Proc} (pid {Pid}) in {Ms} ms", Describe(r.Id, r.ExecId), p.Pid, clock.ElapsedMilliseconds);
        WatchExit(c, p);
        if (r.ExecId.Length == 0) _events.Publish("/tasks/start", new TaskStart { ContainerId = r.Id, Pid = p.Pid });
        else _events.Publish("/tasks/exec-started", new TaskExecStarted { ContainerId = r.Id, ExecId = r.ExecId, Pid = p.Pid });
        return new StartResponse { Pid = p.Pid };
    }

    /// <summary>Waits for the guest to report the exit, lets the output drain, then records and announces it.</summary>
    private void WatchExit(Container c, ShimProcess p)
    {
        _ = Task.Run(async () =>
        {
            uint status;
            Timestamp at;
            try
            {
                var exit = await c.Sandbox!.Agent.WaitProcessAsync(new ProcessRef { ContainerId = c.Id, ExecId = p.ExecId }, CancellationToken.None);
                status = exit.ExitStatus;
                at = Timestamp.FromDateTimeOffset(DateTimeOffset.FromUnixTimeMilliseconds(exit.ExitedAtUnixNano / 1_000_000));
            }
            catch (Exception e)
            {
                _logger.LogWarning("lost the exit of {Proc}: {Error}; reporting 255", Describe(c.Id, p.ExecId), e.Message);
                status = 255;
                at = Timestamp.FromDateTime(DateTime.UtcNow);
            }
            await Task.WhenAny(p.Io.OutputDone, Task.Delay(TimeSpan.FromSeconds(5)));
            p.SetExited(status, at);
            _events.Publish("/tasks/exit", new TaskExit
            {
                ContainerId = c.Id, Id = p.ExecId.Length > 0 ? p.ExecId : c.Id, Pid = p.Pid, ExitStatus = status, ExitedAt = at,
            });
        });
    }

    /// <summary>A VM that stops on its own takes its processes with it.</summary>
    private void WatchVm(Container c)
    {
        _ = c.Sandbox!.Vm.Stopped.ContinueWith(t =>
        {
            if (_container == c) _logger.LogWarning("VM of {Id} stopped: {Reason}", c.Id, t.Result);
        }, TaskScheduler.Default);
    }

    private async Task<DeleteResponse> DeleteAsync(DeleteRequest r)
    {
        var c = RequireContainer(r.Id);
        var p = RequireProcess(r.Id, r.ExecId);
        if (p.State == ProcessState.Running)
            throw new TtrpcException(TtrpcStatusCode.FailedPrecondition, $"cannot delete {Describe(r.Id, r.ExecId)}: it is running");
        var (status, at) = p.HasExited ? p.Exited.Result : (0u, Timestamp.FromDateTime(DateTime.UtcNow));
        try { await c.Sandbox!.Agent.DeleteProcessAsync(new ProcessRef { ContainerId = r.Id, ExecId = r.ExecId }); }
        catch (Exception e) { _logger.LogWarning("agent delete of {Proc}: {Error}", Describe(r.Id, r.ExecId), e.Message); }
        p.State = ProcessState.Deleted;
        if (r.ExecId.Length > 0)
        {
            c.RemoveExec(r.ExecId);
            await p.Io.DisposeAsync();
        }
        else
        {
            _container = null;
            await c.DisposeAsync();
            _events.Publish("/tasks/delete", new TaskDelete { ContainerId = r.Id, Pid = p.Pid, ExitStatus = status, ExitedAt = at, Id = r.Id });
            _logger.LogInformation("deleted container {Id} (exit {Status})", r.Id, status);
        }
        return new DeleteResponse { Pid = p.Pid, ExitStatus = status, ExitedAt = at };
    }

    private async Task<Empty> KillAsync(KillRequest r)
    {
        var c = RequireContainer(r.Id);
        var p = RequireProcess(r.Id, r.ExecId);
        if (p.HasExited || p.State == ProcessState.Deleted)
            throw new TtrpcException(TtrpcStatusCode.NotFound, $"process {Describe(r.Id, r.ExecId)}: process already finished");
        try { await c.Sandbox!.Agent.SignalProcessAsync(new SignalRequest { ContainerId = r.Id, ExecId = r.ExecId, Signal = r.Signal, All = r.All }); }
        catch (Exception e) { throw Translate(e); }
        return new Empty();
    }

    private async Task<PidsResponse> PidsAsync(PidsRequest r)
    {
        var c = RequireContainer(r.Id);
        PidsResponse resp = new();
        try
        {
            var pids = await c.Sandbox!.Agent.ListPidsAsync(new ContainerRef { ContainerId = r.Id });
            resp.Processes.AddRange(pids.Pids.Select(pid => new Containerd.V1.Types.ProcessInfo { Pid = pid }));
        }
        catch (Exception e) { throw Translate(e); }
        return resp;
    }

    private async Task<Empty> ExecAsync(ExecProcessRequest r)
    {
        var c = RequireContainer(r.Id);
        if (r.ExecId.Length == 0) throw new TtrpcException(TtrpcStatusCode.InvalidArgument, "exec_id: must not be empty");
        if (c.Find(r.ExecId) is not null) throw new TtrpcException(TtrpcStatusCode.AlreadyExists, $"exec {r.ExecId} of container {r.Id}: already exists");
        var io = ProcessIo.Create(c.Sandbox!.Vsock, c.AllocateStdioPorts(), r.Stdin, r.Stdout, r.Stderr, r.Terminal, _logger);
        var p = new ShimProcess(r.ExecId, 0, io, r.Stdin, r.Stdout, r.Stderr, r.Terminal);
        try
        {
            var resp = await c.Sandbox.Agent.ExecProcessAsync(new AgentExecRequest
            {
                ContainerId = r.Id, ExecId = r.ExecId, ProcessJson = r.Spec?.Value ?? ByteString.Empty, Stdio = io.Ports,
            });
            p.Pid = resp.Pid;
        }
        catch (Exception e)
        {
            await io.DisposeAsync();
            throw Translate(e);
        }
        c.TryAddExec(p);
        _events.Publish("/tasks/exec-added", new TaskExecAdded { ContainerId = r.Id, ExecId = r.ExecId });
        return new Empty();
    }

    private Task<Empty> CloseIoAsync(CloseIORequest r)
    {
        var p = RequireProcess(r.Id, r.ExecId);
        if (r.Stdin) p.Io.CloseStdin();
        return Task.FromResult(new Empty());
    }

    private async Task<Empty> ResizePtyAsync(Containerd.Task.V2.ResizePtyRequest r)
    {
        var c = RequireContainer(r.Id);
        try
        {
            await c.Sandbox!.Agent.ResizePtyAsync(new Spinbox.Agent.V1.ResizePtyRequest { ContainerId = r.Id, ExecId = r.ExecId, Width = r.Width, Height = r.Height });
        }
        catch (Exception e) { throw Translate(e); }
        return new Empty();
    }

    private static string Describe(string id, string execId) => execId.Length == 0 ? id : $"{id}/{execId}";

    /// <summary>Keeps agent and validation errors' codes; anything else becomes Unknown with its message.</summary>
    private static TtrpcException Translate(Exception e) => e switch
    {
        TtrpcException t => t,
        SettingsException s => new TtrpcException(TtrpcStatusCode.InvalidArgument, s.Message),
        FileNotFoundException f => new TtrpcException(TtrpcStatusCode.NotFound, f.Message),
        _ => new TtrpcException(TtrpcStatusCode.Unknown, e.Message),
    };
}
