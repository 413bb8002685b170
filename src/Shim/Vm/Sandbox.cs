using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Spinbox.Agent.V1;
using Spinbox.Shim.Commands;
using Spinbox.Shim.Config;
using Spinbox.Ttrpc;
using Spinbox.Virtio.Devices.Vsock;

namespace Spinbox.Shim.Vm;

/// <summary>
/// A disk the VM gets: a host file, the serial the agent finds it by, whether it is read-only, and whether
/// the guest runs programs from it (the tcg backend must then let QEMU serve it; see QemuDrive).
/// </summary>
public sealed record DiskSpec(string Path, string Serial, bool ReadOnly, bool HoldsPrograms = false);

/// <summary>What one container's VM needs.</summary>
public sealed record SandboxSpec(IReadOnlyList<DiskSpec> Disks, int Vcpus, ulong MemoryBytes, string ExtraKernelArgs, string RequestedBackend);

/// <summary>
/// One container's VM and the ttrpc channel to its agent: boots the VM on the chosen backend with our own
/// vsock and block devices and waits for the agent to dial in on vsock port 1024.
/// </summary>
public sealed class Sandbox : IAsyncDisposable
{
    public const uint AgentPort = 1024;
    public const ulong GuestCid = 3;
    // no_timer_check: under a loaded TCG host the IO-APIC timer self-check can time out and panic the guest.
    public const string BaseKernelArgs = "console=ttyS0 panic=-1 quiet no_timer_check rdinit=/init";

    private readonly ILogger _logger;
    private int _disposed;

    private Sandbox(IGuestVm vm, VirtioVsockDevice vsock, AgentClient agent, HelloResponse hello, ILogger logger)
    {
        Vm = vm; Vsock = vsock; Agent = agent; Hello = hello; _logger = logger;
    }

    public IGuestVm Vm { get; }
    public VirtioVsockDevice Vsock { get; }
    public AgentClient Agent { get; }
    public HelloResponse Hello { get; }

    public static async Task<Sandbox> StartAsync(SandboxSpec spec, SpinboxConfig config, ShimPaths paths, ILoggerFactory loggers, CancellationToken ct)
    {
        var logger = loggers.CreateLogger("vm");
        var clock = Stopwatch.StartNew();
        var vsock = new VirtioVsockDevice(GuestCid, loggers.CreateLogger("vsock"));
        var agentArrived = new TaskCompletionSource<VsockStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listener = vsock.Listen(AgentPort, s => { if (!agentArrived.TrySetResult(s)) s.Dispose(); });
        IGuestVm? vm = null;
        try
        {
            string cmdline = string.Join(' ', new[] { BaseKernelArgs, config.KernelArgs, spec.ExtraKernelArgs }.Where(s => s.Length > 0));
            Directory.CreateDirectory(paths.Logs);
            var launch = new VmLaunch(config, paths, cmdline, spec.Vcpus, spec.MemoryBytes, vsock, spec.Disks, spec.RequestedBackend);
            vm = await VmLauncher.StartAsync(launch, loggers, ct);
            File.WriteAllText(paths.VmPidFile, vm.ProcessId.ToString());
            long booted = clock.ElapsedMilliseconds;

            var timeout = Task.Delay(TimeSpan.FromSeconds(config.AgentTimeoutSeconds), ct);
            var first = await Task.WhenAny(agentArrived.Task, vm.Stopped, timeout);
            if (first != agentArrived.Task)
            {
                string why = first == vm.Stopped ? $"the VM stopped ({await vm.Stopped})" : $"no agent connection within {config.AgentTimeoutSeconds}s";
                throw new TtrpcException(TtrpcStatusCode.Unavailable, $"spinbox VM did not start: {why}; see {paths.ConsoleLog}{ConsoleTail(paths.ConsoleLog)}");
            }
            long connected = clock.ElapsedMilliseconds;
            var agent = new AgentClient(new TtrpcClient(await agentArrived.Task));
            var hello = await agent.HelloAsync();
            logger.LogInformation(
                "VM up on {Backend}: launch {Launch} ms, agent connected at {Connected} ms (guest uptime {Guest} ms), kernel {Release}",
                vm.Backend, booted, connected, hello.BootToReadyMs, hello.KernelRelease);
            return new Sandbox(vm, vsock, agent, hello, logger);
        }
        catch
        {
            if (vm is not null) await vm.DisposeAsync();
            vsock.Dispose();
            throw;
        }
    }

    private static string ConsoleTail(string path)
    {
        try
        {
            var lines = File.ReadAllLines(path).Where(l => l.Trim().Length > 0).TakeLast(8).ToArray();
            return lines.Length == 0 ? "" : "; console tail: " + string.Join(" | ", lines);
        }
        catch (IOException) { return ""; }
    }

    /// <summary>Asks the agent to power off, then makes sure the VM is gone.</summary>
    public async Task ShutdownAsync()
    {
        try { await Agent.ShutdownAsync().WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (Exception e) { _logger.LogDebug("agent shutdown: {Error}", e.Message); }
        if (await Task.WhenAny(Vm.Stopped, Task.Delay(5000)) != Vm.Stopped)
            _logger.LogWarning("VM did not power off in 5 s; stopping it");
        await Vm.StopAsync(TimeSpan.FromSeconds(2));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await Agent.DisposeAsync();
        await Vm.DisposeAsync();
        Vsock.Dispose();
    }
}
