using Spinbox.GuestAgent.Boot;
using Spinbox.GuestAgent.Containers;
using Spinbox.GuestAgent.Extras;
using Spinbox.GuestAgent.Logging;
using Spinbox.GuestAgent.Processes;
using Spinbox.GuestAgent.Service;
using Spinbox.GuestAgent.Supervisor;
using Spinbox.GuestAgent.Vsock;
using Spinbox.Ttrpc;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Spinbox.GuestAgent;

/// <summary>
/// spinbox-agent, PID 1 of the guest: sets the VM up, connects to the host over vsock and serves the
/// spinbox.agent.v1.Agent ttrpc service there. PID 1 must never return (the kernel would panic), so
/// every way out ends in a power-off.
/// </summary>
internal static class Program
{
    private static readonly TimeSpan HostPatience = TimeSpan.FromSeconds(30);

    private static int Main(string[] args)
    {
        if (args is ["--version"])
        {
            Console.WriteLine($"spinbox-agent {HelloInfo.AgentVersion}");
            return 0;
        }

        if (Environment.ProcessId != 1)
        {
            Console.Error.WriteLine("spinbox-agent runs as PID 1 inside a spinbox VM");
            return 2;
        }

        try
        {
            Run();
        }
        catch (Exception e)
        {
            AgentLog.Error($"fatal: {e.GetType().Name}: {e.Message}");
        }

        AgentService.PowerOff("agent stopped");
        Thread.Sleep(Timeout.Infinite);
        return 1;
    }

    /// <summary>
    /// The agent blocks pool threads in read(2) on vsock sockets and in waits; with one vCPU the pool starts
    /// with one thread and only adds more after ~0.5-1 s of starvation (measured: the first RPC took 1 s).
    /// </summary>
    private const int MinPoolThreads = 16;

    private static void Run()
    {
        ThreadPool.SetMinThreads(MinPoolThreads, MinPoolThreads);
        GuestBoot.Run();
        var cmdline = KernelCmdline.ReadCurrent();
        GuestBoot.Configure(cmdline);
        AgentLog.Info($"booted in {HelloInfo.Capture().BootToReadyMs} ms{(GuestBoot.PivotRootUsable ? "" : " (no pivot_root)")}");

        var reaper = new ChildReaper();
        reaper.Start();
        var spawner = new ProcessSpawner(reaper);
        var crun = new Crun(spawner, noPivot: !GuestBoot.PivotRootUsable, Crun.PrepareExecutable());
        var extras = new ExtrasService();

        if (cmdline.Get(KernelCmdline.SelfTestKey) is { Length: > 0 } selfTest)
        {
            var consoleStdio = new ConsoleStdioConnector();
            var manager = new ContainerManager(spawner, crun, consoleStdio, () => extras.InjectedFiles);
            var setup = new GuestSetup(extras, new SupervisorRunner(spawner), consoleStdio, cmdline);
            SelfTest.RunAsync(selfTest, manager, setup).GetAwaiter().GetResult();
            return;
        }

        var vsock = new VsockConnector();
        int fd = VsockConnector.ConnectAgentChannel(HostPatience);
        var hello = HelloInfo.Capture();
        AgentLog.Info($"connected to host port {VsockConnector.AgentPort} at {hello.BootToReadyMs} ms");

        var containers = new ContainerManager(spawner, crun, vsock, () => extras.InjectedFiles);
        var guestSetup = new GuestSetup(extras, new SupervisorRunner(spawner), vsock, cmdline);
        var server = new TtrpcServer();
        new AgentService(containers, guestSetup, hello).Register(server);
        using var channel = new FdStream(fd);
        server.ServeAsync(channel, CancellationToken.None).GetAwaiter().GetResult();
        AgentLog.Info("host closed the agent connection");
    }
}
