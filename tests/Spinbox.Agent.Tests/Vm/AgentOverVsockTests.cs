using System.Text;
using Google.Protobuf;
using Spinbox.Agent.V1;
using Spinbox.Ttrpc;
using Spinbox.Virtio.Devices.Vsock;
using Xunit.Abstractions;

namespace Spinbox.Agent.Tests.Vm;

/// <summary>
/// The ctr run path end to end, as the shim drives it: QEMU TCG with spinbox's own vsock and blk
/// devices over vhost-user, the agent connecting to host port 1024, ttrpc calls, the process's stdout
/// arriving on its own vsock port, power-off on Shutdown.
/// </summary>
public sealed class AgentOverVsockTests(ITestOutputHelper output)
{
    private const string Service = "spinbox.agent.v1.Agent";
    private const uint StdoutPort = 2001;
    private const uint StderrPort = 2002;
    private const uint LogPort = 2003;

    [AgentVmFact]
    public Task RunsAContainerAndReportsItsOutputAndExitStatus() => RunsAContainerAsync(spinboxBlk: false);

    [AgentVmFact]
    public Task RunsAContainerFromASpinboxBlkRootfs() => RunsAContainerAsync(spinboxBlk: true);

    private async Task RunsAContainerAsync(bool spinboxBlk)
    {
        using var dir = new TempRoot();
        await using var vm = await AgentVm.StartAsync(dir.Path, [("rootfs", GuestImages.BusyboxRootfs(dir.Path), true)], output, spinboxBlk);
        var stdout = vm.Accept(StdoutPort);
        var stderr = vm.Accept(StderrPort);

        var hello = await vm.CallAsync("Hello", new HelloRequest(), HelloResponse.Parser);
        Assert.Equal("0.1.0", hello.AgentVersion);
        Assert.Matches(@"^\d+\.\d+\.\d+", hello.KernelRelease);
        Assert.InRange(hello.BootToReadyMs, 1ul, 60_000ul);
        output.WriteLine($"agent ready {hello.BootToReadyMs} ms after guest boot, {vm.Elapsed.TotalMilliseconds:F0} ms after QEMU start");

        var created = await vm.CallAsync("CreateContainer", new CreateContainerRequest
        {
            ContainerId = "c1",
            SpecJson = ByteString.CopyFromUtf8(Spec("c1", "echo hi; echo oops >&2; exit 3")),
            Rootfs = new BlockRootfs { DiskSerial = "rootfs", Fstype = "ext4", Readonly = true },
            Stdio = new StdioPorts { Stdout = StdoutPort, Stderr = StderrPort },
        }, ProcessResponse.Parser);
        Assert.True(created.Pid > 1);

        var state = await vm.CallAsync("ProcessState", new ProcessRef { ContainerId = "c1" }, StateResponse.Parser);
        Assert.Equal(ProcessStatus.Created, state.Status);

        await vm.CallAsync("StartProcess", new ProcessRef { ContainerId = "c1" }, ProcessResponse.Parser);
        Assert.Equal("hi\n", await ReadToEndAsync(await stdout));
        Assert.Equal("oops\n", await ReadToEndAsync(await stderr));

        var exit = await vm.CallAsync("WaitProcess", new ProcessRef { ContainerId = "c1" }, ExitResponse.Parser);
        Assert.Equal(3u, exit.ExitStatus);
        Assert.Equal(created.Pid, exit.Pid);
        Assert.True(exit.ExitedAtUnixNano > 0);

        var deleted = await vm.CallAsync("DeleteProcess", new ProcessRef { ContainerId = "c1" }, ExitResponse.Parser);
        Assert.Equal(3u, deleted.ExitStatus);
        var gone = await Assert.ThrowsAsync<TtrpcException>(() => vm.CallAsync("ProcessState", new ProcessRef { ContainerId = "c1" }, StateResponse.Parser));
        Assert.Equal(TtrpcStatusCode.NotFound, gone.Code);

        await vm.ShutdownAsync();
    }

    [AgentVmFact]
    public async Task ReportsCrunsErrorsAndRefusesWhatItCannotRun()
    {
        using var dir = new TempRoot();
        await using var vm = await AgentVm.StartAsync(dir.Path, [("rootfs", GuestImages.BusyboxRootfs(dir.Path), true)], output);

        var missing = await Assert.ThrowsAsync<TtrpcException>(() => vm.CallAsync("CreateContainer", new CreateContainerRequest
        {
            ContainerId = "bad",
            SpecJson = ByteString.CopyFromUtf8(Spec("bad", "exit 0").Replace("\"/bin/sh\",\"-c\",\"exit 0\"", "\"/no/such\"")),
            Rootfs = new BlockRootfs { DiskSerial = "rootfs", Fstype = "ext4", Readonly = true },
        }, ProcessResponse.Parser));
        Assert.Contains("/no/such", missing.Message);

        var noDisk = await Assert.ThrowsAsync<TtrpcException>(() => vm.CallAsync("CreateContainer", new CreateContainerRequest
        {
            ContainerId = "nodisk",
            SpecJson = ByteString.CopyFromUtf8(Spec("nodisk", "exit 0")),
            Rootfs = new BlockRootfs { DiskSerial = "nope", Fstype = "ext4" },
        }, ProcessResponse.Parser));
        Assert.Equal(TtrpcStatusCode.NotFound, noDisk.Code);
        Assert.Contains("\"nope\"", noDisk.Message);

        var terminal = await Assert.ThrowsAsync<TtrpcException>(() => vm.CallAsync("CreateContainer", new CreateContainerRequest
        {
            ContainerId = "tty",
            SpecJson = ByteString.CopyFromUtf8(Spec("tty", "exit 0")),
            Rootfs = new BlockRootfs { DiskSerial = "rootfs", Fstype = "ext4" },
            Stdio = new StdioPorts { Terminal = true },
        }, ProcessResponse.Parser));
        Assert.Equal(TtrpcStatusCode.Unimplemented, terminal.Code);

        var badId = await Assert.ThrowsAsync<TtrpcException>(() => vm.CallAsync("CreateContainer", new CreateContainerRequest
        {
            ContainerId = "../x",
            SpecJson = ByteString.CopyFromUtf8(Spec("x", "exit 0")),
            Rootfs = new BlockRootfs { DiskSerial = "rootfs", Fstype = "ext4" },
        }, ProcessResponse.Parser));
        Assert.Equal(TtrpcStatusCode.InvalidArgument, badId.Code);
        Assert.Contains("container_id", badId.Message);

        await vm.ShutdownAsync();
    }

    [AgentVmFact]
    public async Task ExecReadsStdinUntilTheHostHalfClosesAndSignalsReachTheContainer()
    {
        using var dir = new TempRoot();
        await using var vm = await AgentVm.StartAsync(dir.Path, [("rootfs", GuestImages.BusyboxRootfs(dir.Path), true)], output);
        await vm.CallAsync("CreateContainer", new CreateContainerRequest
        {
            ContainerId = "c1",
            SpecJson = ByteString.CopyFromUtf8(Spec("c1", "sleep 600")),
            Rootfs = new BlockRootfs { DiskSerial = "rootfs", Fstype = "ext4", Readonly = true },
        }, ProcessResponse.Parser);
        var init = await vm.CallAsync("StartProcess", new ProcessRef { ContainerId = "c1" }, ProcessResponse.Parser);

        var stdin = vm.Accept(2010);
        var stdout = vm.Accept(2011);
        var exec = new ExecProcessRequest
        {
            ContainerId = "c1",
            ExecId = "e1",
            ProcessJson = ByteString.CopyFromUtf8("""{"args":["/bin/sh","-c","tr a-z A-Z; exit 7"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}"""),
            Stdio = new StdioPorts { Stdin = 2010, Stdout = 2011 },
        };
        await vm.CallAsync("ExecProcess", exec, ProcessResponse.Parser);
        Assert.Equal(ProcessStatus.Created, (await vm.CallAsync("ProcessState", new ProcessRef { ContainerId = "c1", ExecId = "e1" }, StateResponse.Parser)).Status);
        var started = await vm.CallAsync("StartProcess", new ProcessRef { ContainerId = "c1", ExecId = "e1" }, ProcessResponse.Parser);
        Assert.True(started.Pid > init.Pid);

        var input = await stdin;
        await input.WriteAsync("ping\n"u8.ToArray());
        // CloseStdin is a no-op in the agent: the shim's half-close is what the process reads as EOF.
        await vm.CallAsync("CloseStdin", new ProcessRef { ContainerId = "c1", ExecId = "e1" }, Empty.Parser);
        input.ShutdownWrite();
        Assert.Equal("PING\n", await ReadToEndAsync(await stdout));
        var execExit = await vm.CallAsync("WaitProcess", new ProcessRef { ContainerId = "c1", ExecId = "e1" }, ExitResponse.Parser);
        Assert.Equal(7u, execExit.ExitStatus);
        Assert.Equal(7u, (await vm.CallAsync("DeleteProcess", new ProcessRef { ContainerId = "c1", ExecId = "e1" }, ExitResponse.Parser)).ExitStatus);

        var pids = await vm.CallAsync("ListPids", new ContainerRef { ContainerId = "c1" }, PidsResponse.Parser);
        Assert.Contains(init.Pid, pids.Pids);

        // SIGKILL: the init is PID 1 of its namespace and ignores signals it has no handler for.
        await vm.CallAsync("SignalProcess", new SignalRequest { ContainerId = "c1", Signal = 9, All = true }, Empty.Parser);
        var exit = await vm.CallAsync("WaitProcess", new ProcessRef { ContainerId = "c1" }, ExitResponse.Parser);
        Assert.Equal(137u, exit.ExitStatus);
        var afterExit = await Assert.ThrowsAsync<TtrpcException>(() => vm.CallAsync("SignalProcess", new SignalRequest { ContainerId = "c1", Signal = 9 }, Empty.Parser));
        Assert.Equal(TtrpcStatusCode.NotFound, afterExit.Code);
        Assert.Equal(137u, (await vm.CallAsync("DeleteProcess", new ProcessRef { ContainerId = "c1" }, ExitResponse.Parser)).ExitStatus);

        await vm.ShutdownAsync();
    }

    [AgentVmFact]
    public async Task InjectsExtrasIntoContainersAndMirrorsTheSupervisorLog()
    {
        using var dir = new TempRoot();
        string extras = Path.Combine(dir.Path, "extras.tar");
        await File.WriteAllBytesAsync(extras, TestTar.Build(
            ("usr/local/bin/hello-extra", "#!/bin/sh\necho hello-extra-ran\n", TestTar.Octal(0b111_101_101)),
            ("etc/app/config.json", "{\"k\":1}", TestTar.Octal(0b110_000_000)),
            ("run/spin-stack/spin-supervisor", "#!/bin/sh\necho supervisor-up $SPIN_SUPERVISOR_CONFIG\nexec sleep 1000\n", TestTar.Octal(0b111_101_101))));
        string rootfs = GuestImages.BusyboxRootfs(dir.Path);
        await using var vm = await AgentVm.StartAsync(dir.Path, [("rootfs", rootfs, false), ("extras", extras, true)], output);
        var log = vm.Accept(LogPort);
        var stdout = vm.Accept(StdoutPort);

        await vm.CallAsync("SetupGuest", new SetupGuestRequest
        {
            ExtrasDiskSerial = "extras",
            Supervisor = new SupervisorConfig { WorkspaceId = "w1", Secret = "s3cr3t-value", ControlPlane = "https://cp.example" },
            SupervisorLogPort = LogPort,
        }, Empty.Parser);
        var logStream = await log;
        Assert.Contains("supervisor-up /run/spin-stack/supervisor.conf", await ReadUntilAsync(logStream, "\n"));

        await vm.CallAsync("CreateContainer", new CreateContainerRequest
        {
            ContainerId = "x1",
            SpecJson = ByteString.CopyFromUtf8(Spec("x1", "stat -c '%a %n' /usr/local/bin/hello-extra /etc/app/config.json; hello-extra; test -e /run/spin-stack/spin-supervisor || echo vm-only-hidden", readonlyRoot: false)),
            Rootfs = new BlockRootfs { DiskSerial = "rootfs", Fstype = "ext4", Readonly = false },
            Stdio = new StdioPorts { Stdout = StdoutPort },
        }, ProcessResponse.Parser);
        await vm.CallAsync("StartProcess", new ProcessRef { ContainerId = "x1" }, ProcessResponse.Parser);
        Assert.Equal("755 /usr/local/bin/hello-extra\n600 /etc/app/config.json\nhello-extra-ran\nvm-only-hidden\n", await ReadToEndAsync(await stdout));
        var exit = await vm.CallAsync("WaitProcess", new ProcessRef { ContainerId = "x1" }, ExitResponse.Parser);
        Assert.Equal(0u, exit.ExitStatus);
        await vm.CallAsync("DeleteProcess", new ProcessRef { ContainerId = "x1" }, ExitResponse.Parser);

        await vm.ShutdownAsync();
        Assert.DoesNotContain("s3cr3t-value", vm.Console());
    }

    private static async Task<string> ReadToEndAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cts.Token);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static async Task<string> ReadUntilAsync(Stream stream, string end)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().Contains(end))
        {
            int n = await stream.ReadAsync(buffer, cts.Token);
            if (n == 0)
            {
                break;
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }

        return text.ToString();
    }

    /// <summary>A minimal OCI spec: sh -c SCRIPT in pid/mount/ipc/uts namespaces with proc and dev mounts.</summary>
    private static string Spec(string id, string script, bool readonlyRoot = true) => $$"""
        {
          "ociVersion": "1.1.0",
          "process": {
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh","-c",{{System.Text.Json.JsonSerializer.Serialize(script)}}],
            "env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
            "noNewPrivileges": true
          },
          "root": {"path": "rootfs", "readonly": {{(readonlyRoot ? "true" : "false")}}},
          "hostname": "{{id}}",
          "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid","noexec","nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]}
          ],
          "linux": {
            "cgroupsPath": "/default/{{id}}",
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"]
          }
        }
        """;
}
