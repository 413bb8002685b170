using System.Text.Json;
using System.Text.Json.Nodes;
using Spinbox.Agent.V1;
using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;
using Spinbox.GuestAgent.Processes;
using Spinbox.GuestAgent.Vsock;
using Spinbox.Ttrpc;

namespace Spinbox.GuestAgent.Containers;

/// <summary>
/// Containers and their processes, mirroring containerd's model: CreateContainer creates the init
/// (crun create), ExecProcess only records an exec, StartProcess starts either (crun start / crun
/// exec --detach), DeleteProcess removes it. State changes are serialized by one lock; waits are not.
/// </summary>
internal sealed class ContainerManager(ProcessSpawner spawner, Crun crun, IStdioConnector stdioConnector, Func<IReadOnlyList<string>> injectedFiles)
{
    public const string ContainersRoot = "/run/spinbox/containers";
    private const string TerminalUnsupported = "terminal (ctr run -t) is not supported yet";
    private static readonly TimeSpan DiskPatience = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DeleteExitPatience = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<string, Container> _containers = new(StringComparer.Ordinal);

    public async Task<ProcessResponse> CreateAsync(CreateContainerRequest request)
    {
        Identifiers.Require(request.ContainerId, "container_id");
        var rootfsRequest = request.Rootfs ?? throw Invalid("rootfs: missing");
        if (rootfsRequest.DiskSerial.Length == 0)
        {
            throw Invalid("rootfs.disk_serial: empty");
        }

        if (rootfsRequest.Fstype.Length == 0 || !rootfsRequest.Fstype.All(char.IsAsciiLetterOrDigit))
        {
            throw Invalid($"rootfs.fstype \"{rootfsRequest.Fstype}\": expected a filesystem name such as ext4 or erofs");
        }

        JsonObject parsed = ParseSpec(request.SpecJson.Span);
        if (request.Stdio?.Terminal == true || SpecRewriter.WantsTerminal(parsed))
        {
            throw new TtrpcException(TtrpcStatusCode.Unimplemented, TerminalUnsupported);
        }

        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            string id = request.ContainerId;
            if (_containers.ContainsKey(id))
            {
                throw new TtrpcException(TtrpcStatusCode.AlreadyExists, $"container {id} already exists");
            }

            string device = await BlockDevices.FindBySerialAsync(rootfsRequest.DiskSerial, DiskPatience).ConfigureAwait(false)
                ?? throw new TtrpcException(TtrpcStatusCode.NotFound, $"rootfs disk with serial \"{rootfsRequest.DiskSerial}\" not found in /sys/block");

            string bundle = Path.Combine(ContainersRoot, id);
            string rootfs = Path.Combine(bundle, "rootfs");
            bool mounted = false;
            try
            {
                Directory.CreateDirectory(rootfs);
                Libc.Mount(device, rootfs, rootfsRequest.Fstype, rootfsRequest.Readonly ? Libc.MS_RDONLY : 0, null);
                mounted = true;

                string config = RewriteSpec(request.SpecJson.Span, rootfs);
                File.WriteAllText(Path.Combine(bundle, "config.json"), config);

                var init = new AgentProcess(id, "");
                using (var stdio = ConnectStdio(request.Stdio))
                {
                    var (pid, exit) = await crun.CreateAsync(id, bundle, stdio.Fds).ConfigureAwait(false);
                    init.Attach(pid, exit);
                }

                var container = new Container(id, bundle, rootfs, init) { CgroupDirectory = Cgroups.DirectoryOf(init.Pid) };
                _containers[id] = container;
                AgentLog.Info($"container {id} created, init pid {init.Pid}, rootfs {device} ({rootfsRequest.Fstype}{(rootfsRequest.Readonly ? ", ro" : "")})");
                return new ProcessResponse { Pid = (uint)init.Pid };
            }
            catch
            {
                await CleanUpFailedCreateAsync(id, bundle, rootfs, mounted).ConfigureAwait(false);
                throw;
            }
        }
        catch (Exception e) when (e is CrunException or IOException or InvalidSpecException)
        {
            throw Translate(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<ProcessResponse> ExecAsync(ExecProcessRequest request)
    {
        Identifiers.Require(request.ContainerId, "container_id");
        Identifiers.Require(request.ExecId, "exec_id");
        JsonObject process = ParseProcess(request.ProcessJson.Span);
        if (request.Stdio?.Terminal == true ||
            (process["terminal"] is JsonValue t && t.TryGetValue(out bool terminal) && terminal))
        {
            throw new TtrpcException(TtrpcStatusCode.Unimplemented, TerminalUnsupported);
        }

        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var container = Find(request.ContainerId);
            if (container.Init.Status != ProcessStatus.Running)
            {
                throw new TtrpcException(TtrpcStatusCode.FailedPrecondition, $"container {container.Id} is {container.Init.Status.ToString().ToLowerInvariant()}, not running");
            }

            if (container.Execs.ContainsKey(request.ExecId))
            {
                throw new TtrpcException(TtrpcStatusCode.AlreadyExists, $"exec {request.ExecId} already exists in container {container.Id}");
            }

            string path = Path.Combine(container.Bundle, $"exec-{request.ExecId}.json");
            File.WriteAllText(path, process.ToJsonString());
            var exec = new AgentProcess(container.Id, request.ExecId)
            {
                ProcessJsonPath = path,
                PendingStdio = ConnectStdio(request.Stdio),
            };
            container.Execs[request.ExecId] = exec;
            return new ProcessResponse { Pid = 0 };
        }
        catch (IOException e)
        {
            throw Translate(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<ProcessResponse> StartAsync(ProcessRef request)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var container = Find(request.ContainerId);
            var process = FindProcess(container, request.ExecId);
            if (process.Status != ProcessStatus.Created)
            {
                throw new TtrpcException(TtrpcStatusCode.FailedPrecondition, $"{Describe(process)} is {process.Status.ToString().ToLowerInvariant()}, not created");
            }

            if (process.IsInit)
            {
                await crun.StartAsync(container.Id, container.Bundle).ConfigureAwait(false);
            }
            else
            {
                using var stdio = process.PendingStdio!;
                process.PendingStdio = null;
                var (pid, exit) = await crun.ExecAsync(container.Id, container.Bundle, process.ExecId, process.ProcessJsonPath!, stdio.Fds).ConfigureAwait(false);
                process.Attach(pid, exit);
            }

            process.MarkStarted();
            AgentLog.Info($"{Describe(process)} started, pid {process.Pid}");
            return new ProcessResponse { Pid = (uint)process.Pid };
        }
        catch (Exception e) when (e is CrunException or IOException)
        {
            throw Translate(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<ExitResponse> WaitAsync(ProcessRef request, CancellationToken ct)
    {
        AgentProcess process;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            process = FindProcess(Find(request.ContainerId), request.ExecId);
        }
        finally
        {
            _lock.Release();
        }

        await process.Exited.WaitAsync(ct).ConfigureAwait(false);
        return process.ExitResponse();
    }

    public async Task<StateResponse> StateAsync(ProcessRef request)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            return FindProcess(Find(request.ContainerId), request.ExecId).State();
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task SignalAsync(SignalRequest request)
    {
        if (request.Signal is 0 or > 64)
        {
            throw Invalid($"signal {request.Signal}: expected 1-64");
        }

        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var container = Find(request.ContainerId);
            var process = FindProcess(container, request.ExecId);
            if (request.All && process.IsInit)
            {
                await crun.KillAllAsync(container.Id, container.Bundle, request.Signal).ConfigureAwait(false);
                return;
            }

            if (process.Pid == 0)
            {
                throw new TtrpcException(TtrpcStatusCode.FailedPrecondition, $"{Describe(process)} has not been started");
            }

            if (process.HasExited)
            {
                throw new TtrpcException(TtrpcStatusCode.NotFound, $"{Describe(process)}: process already finished");
            }

            int errno = Libc.Kill(process.Pid, (int)request.Signal);
            if (errno == Libc.ESRCH)
            {
                throw new TtrpcException(TtrpcStatusCode.NotFound, $"{Describe(process)}: process already finished");
            }

            if (errno != 0)
            {
                throw new TtrpcException(TtrpcStatusCode.Internal, $"kill {process.Pid} {request.Signal}: errno {errno}");
            }
        }
        catch (CrunException e)
        {
            throw Translate(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<PidsResponse> ListPidsAsync(ContainerRef request)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var container = Find(request.ContainerId);
            var response = new PidsResponse();
            if (container.CgroupDirectory is { } cgroup && cgroup != Cgroups.Root)
            {
                response.Pids.AddRange(Cgroups.PidsUnder(cgroup));
            }
            else if (!container.Init.HasExited)
            {
                // No cgroup of its own (cgroups disabled): the init is all we can name.
                response.Pids.Add((uint)container.Init.Pid);
            }

            return response;
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<ExitResponse> DeleteAsync(ProcessRef request)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            var container = Find(request.ContainerId);
            var process = FindProcess(container, request.ExecId);
            if (!process.IsInit)
            {
                if (process.Status == ProcessStatus.Running)
                {
                    throw new TtrpcException(TtrpcStatusCode.FailedPrecondition, $"{Describe(process)} is still running");
                }

                container.Execs.Remove(process.ExecId);
                process.PendingStdio?.Dispose();
                TryDelete(process.ProcessJsonPath);
                var response = process.ExitResponse();
                process.Abandon();
                return response;
            }

            await crun.DeleteAsync(container.Id, container.Bundle).ConfigureAwait(false);
            if (!await WaitBrieflyAsync(container.Init.Exited, DeleteExitPatience).ConfigureAwait(false))
            {
                AgentLog.Error($"container {container.Id}: init pid {container.Init.Pid} did not exit after crun delete");
            }

            foreach (var exec in container.Execs.Values)
            {
                exec.PendingStdio?.Dispose();
                exec.Abandon();
            }

            var result = container.Init.ExitResponse();
            container.Init.Abandon();
            UnmountAndRemove(container.Rootfs, container.Bundle);
            _containers.Remove(container.Id);
            AgentLog.Info($"container {container.Id} deleted, exit status {result.ExitStatus}");
            return result;
        }
        catch (CrunException e)
        {
            throw Translate(e);
        }
        finally
        {
            _lock.Release();
        }
    }

    private string RewriteSpec(ReadOnlySpan<byte> spec, string rootfs) =>
        SpecRewriter.Rewrite(spec, rootfs, injectedFiles(), p => File.Exists(p) || Directory.Exists(p), note => AgentLog.Info(note));

    private StdioConnections ConnectStdio(StdioPorts? ports) =>
        StdioConnections.Connect(stdioConnector, ports?.Stdin ?? 0, ports?.Stdout ?? 0, ports?.Stderr ?? 0, spawner.DevNull);

    private async Task CleanUpFailedCreateAsync(string id, string bundle, string rootfs, bool mounted)
    {
        try
        {
            // crun may have left state behind (a half-created container); this is a no-op otherwise.
            await crun.DeleteAsync(id, bundle).ConfigureAwait(false);
        }
        catch (CrunException)
        {
        }

        if (mounted)
        {
            UnmountAndRemove(rootfs, bundle);
        }
        else
        {
            TryDeleteDirectory(bundle);
        }
    }

    private static void UnmountAndRemove(string rootfs, string bundle)
    {
        try
        {
            Libc.Unmount(rootfs, 0);
        }
        catch (LibcException e)
        {
            AgentLog.Error($"{e.Message}; detaching instead");
            try
            {
                Libc.Unmount(rootfs, Libc.MNT_DETACH);
            }
            catch (LibcException)
            {
                // Never remove files from a rootfs that is still mounted.
                return;
            }
        }

        TryDeleteDirectory(bundle);
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            AgentLog.Error($"cannot remove {path}: {e.Message}");
        }
    }

    private static void TryDelete(string? file)
    {
        if (file is null)
        {
            return;
        }

        try
        {
            File.Delete(file);
        }
        catch (IOException)
        {
        }
    }

    private static async Task<bool> WaitBrieflyAsync(Task task, TimeSpan patience)
    {
        var finished = await Task.WhenAny(task, Task.Delay(patience)).ConfigureAwait(false);
        return finished == task;
    }

    private Container Find(string id) =>
        _containers.TryGetValue(id, out var c) ? c : throw new TtrpcException(TtrpcStatusCode.NotFound, $"container {id} not found");

    private static AgentProcess FindProcess(Container container, string execId)
    {
        if (execId.Length == 0)
        {
            return container.Init;
        }

        return container.Execs.TryGetValue(execId, out var p)
            ? p
            : throw new TtrpcException(TtrpcStatusCode.NotFound, $"exec {execId} not found in container {container.Id}");
    }

    private static string Describe(AgentProcess p) =>
        p.IsInit ? $"container {p.ContainerId}" : $"exec {p.ExecId} in container {p.ContainerId}";

    private static JsonObject ParseSpec(ReadOnlySpan<byte> json)
    {
        try
        {
            return SpecRewriter.Parse(json);
        }
        catch (InvalidSpecException e)
        {
            throw Invalid(e.Message);
        }
    }

    private static JsonObject ParseProcess(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw Invalid("process_json: not a JSON object");
        }
        catch (JsonException e)
        {
            throw Invalid($"process_json: not valid JSON ({e.Message})");
        }
    }

    private static TtrpcException Invalid(string message) => new(TtrpcStatusCode.InvalidArgument, message);

    private static TtrpcException Translate(Exception e) => e switch
    {
        InvalidSpecException => Invalid(e.Message),
        CrunException => new TtrpcException(TtrpcStatusCode.Unknown, e.Message),
        _ => new TtrpcException(TtrpcStatusCode.Internal, e.Message),
    };
}
