using System.Text;
using Google.Protobuf;
using Spinbox.Agent.V1;
using Spinbox.GuestAgent.Containers;
using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;
using Spinbox.GuestAgent.Vsock;
using Spinbox.Ttrpc;

namespace Spinbox.GuestAgent.Service;

/// <summary>Stdio for self-tests: every stream goes to the console, so output lands in the VM log.</summary>
internal sealed class ConsoleStdioConnector : IStdioConnector
{
    public int Connect(uint port) => Libc.Open("/dev/console", Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC);
}

/// <summary>
/// Boot-time checks selected with spinbox.selftest=NAME on the kernel command line, for testing the
/// guest side under QEMU without a host vsock peer. Runs the same code paths the ttrpc handlers call,
/// prints "selftest: PASS" or "selftest: FAIL ..." and returns (the agent then powers off).
/// Needs a disk with serial "rootfs" holding /bin/sh; "extras" also needs a disk with serial "extras".
/// </summary>
internal static class SelfTest
{
    public static async Task RunAsync(string name, ContainerManager containers, GuestSetup setup)
    {
        try
        {
            switch (name)
            {
                case "container":
                    await ContainerScenarioAsync(containers).ConfigureAwait(false);
                    break;
                case "extras":
                    await ExtrasScenarioAsync(containers, setup).ConfigureAwait(false);
                    break;
                default:
                    throw new InvalidOperationException($"unknown self-test \"{name}\"");
            }

            AgentLog.Info("selftest: PASS");
        }
        catch (Exception e)
        {
            AgentLog.Info($"selftest: FAIL {e.GetType().Name}: {e.Message}");
        }
    }

    private static async Task ContainerScenarioAsync(ContainerManager containers)
    {
        // 1. Output and exit code of a short-lived init.
        await containers.CreateAsync(Create("c1", ["/bin/sh", "-c", "echo selftest-hi; exit 3"])).ConfigureAwait(false);
        await containers.StartAsync(new ProcessRef { ContainerId = "c1" }).ConfigureAwait(false);
        var exit = await containers.WaitAsync(new ProcessRef { ContainerId = "c1" }, CancellationToken.None).ConfigureAwait(false);
        Expect(exit.ExitStatus == 3, $"c1 exit status {exit.ExitStatus}, expected 3");
        var deleted = await containers.DeleteAsync(new ProcessRef { ContainerId = "c1" }).ConfigureAwait(false);
        Expect(deleted.ExitStatus == 3, $"c1 delete status {deleted.ExitStatus}, expected 3");
        AgentLog.Info("selftest: step init-exit ok");

        // 2. A missing executable is reported with its name by whichever step fails.
        string? error = null;
        try
        {
            await containers.CreateAsync(Create("c2", ["/no/such"])).ConfigureAwait(false);
            await containers.StartAsync(new ProcessRef { ContainerId = "c2" }).ConfigureAwait(false);
        }
        catch (TtrpcException e)
        {
            error = e.Message;
        }

        AgentLog.Info($"selftest: missing executable error: {error}");
        Expect(error?.Contains("/no/such", StringComparison.Ordinal) == true, "the error for a missing executable does not name it");
        try
        {
            await containers.DeleteAsync(new ProcessRef { ContainerId = "c2" }).ConfigureAwait(false);
        }
        catch (TtrpcException)
        {
            // Not created at all: nothing to delete.
        }

        AgentLog.Info("selftest: step missing-exec ok");

        // 3. Exec, pids, signal.
        await containers.CreateAsync(Create("c3", ["/bin/sh", "-c", "sleep 60"])).ConfigureAwait(false);
        await containers.StartAsync(new ProcessRef { ContainerId = "c3" }).ConfigureAwait(false);
        string process = """{"args":["/bin/sh","-c","echo selftest-exec; exit 5"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}""";
        await containers.ExecAsync(new ExecProcessRequest
        {
            ContainerId = "c3",
            ExecId = "e1",
            ProcessJson = ByteString.CopyFromUtf8(process),
            Stdio = new StdioPorts { Stdout = 1, Stderr = 1 },
        }).ConfigureAwait(false);
        await containers.StartAsync(new ProcessRef { ContainerId = "c3", ExecId = "e1" }).ConfigureAwait(false);
        var execExit = await containers.WaitAsync(new ProcessRef { ContainerId = "c3", ExecId = "e1" }, CancellationToken.None).ConfigureAwait(false);
        Expect(execExit.ExitStatus == 5, $"exec exit status {execExit.ExitStatus}, expected 5");
        await containers.DeleteAsync(new ProcessRef { ContainerId = "c3", ExecId = "e1" }).ConfigureAwait(false);
        var pids = await containers.ListPidsAsync(new ContainerRef { ContainerId = "c3" }).ConfigureAwait(false);
        AgentLog.Info($"selftest: c3 pids {string.Join(',', pids.Pids)}");
        Expect(pids.Pids.Count >= 1, "ListPids returned no pid for a running container");
        await containers.SignalAsync(new SignalRequest { ContainerId = "c3", Signal = 9 }).ConfigureAwait(false);
        var killed = await containers.WaitAsync(new ProcessRef { ContainerId = "c3" }, CancellationToken.None).ConfigureAwait(false);
        Expect(killed.ExitStatus == 137, $"killed init exit status {killed.ExitStatus}, expected 137");
        await containers.DeleteAsync(new ProcessRef { ContainerId = "c3" }).ConfigureAwait(false);
        AgentLog.Info("selftest: step exec-signal ok");
    }

    private static async Task ExtrasScenarioAsync(ContainerManager containers, GuestSetup setup)
    {
        await setup.SetupAsync(new SetupGuestRequest
        {
            ExtrasDiskSerial = "extras",
            Supervisor = new SupervisorConfig
            {
                WorkspaceId = "550e8400-e29b-41d4-a716-446655440000",
                Secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ControlPlane = "https://control.example.com:443",
            },
        }).ConfigureAwait(false);
        // Bind mounts of injected files need their mount points created in the rootfs: a writable one.
        await containers.CreateAsync(Create("x1", ["/bin/sh", "-c", "ls -l /usr/local/bin/hello-extra; /usr/local/bin/hello-extra; test ! -e /run/spin-stack/spin-supervisor"], readonlyRootfs: false)).ConfigureAwait(false);
        await containers.StartAsync(new ProcessRef { ContainerId = "x1" }).ConfigureAwait(false);
        var exit = await containers.WaitAsync(new ProcessRef { ContainerId = "x1" }, CancellationToken.None).ConfigureAwait(false);
        await containers.DeleteAsync(new ProcessRef { ContainerId = "x1" }).ConfigureAwait(false);
        Expect(exit.ExitStatus == 0, $"x1 exit status {exit.ExitStatus}, expected 0");
        await Task.Delay(1500).ConfigureAwait(false);
        string log = File.Exists(Supervisor.SupervisorRunner.LogPath) ? File.ReadAllText(Supervisor.SupervisorRunner.LogPath) : "";
        AgentLog.Info($"selftest: supervisor log: {log.Trim()}");
        Expect(log.Contains("supervisor-ran", StringComparison.Ordinal), "the supervisor did not write its log line");
    }

    private static CreateContainerRequest Create(string id, string[] args, bool readonlyRootfs = true) => new()
    {
        ContainerId = id,
        SpecJson = ByteString.CopyFrom(MinimalSpec(id, args, readonlyRootfs), Encoding.UTF8),
        Rootfs = new BlockRootfs { DiskSerial = "rootfs", Fstype = "ext4", Readonly = readonlyRootfs },
        Stdio = new StdioPorts { Stdout = 1, Stderr = 1 },
    };

    /// <summary>An OCI spec like the one containerd writes, cut to what a busybox rootfs needs.</summary>
    public static string MinimalSpec(string id, string[] args, bool readonlyRootfs)
    {
        string argv = string.Join(',', args.Select(a => $"\"{a}\""));
        return $$"""
        {
          "ociVersion": "1.1.0",
          "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": [{{argv}}],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
              "bounding": ["CAP_CHOWN","CAP_KILL","CAP_SETUID","CAP_SETGID"],
              "effective": ["CAP_CHOWN","CAP_KILL","CAP_SETUID","CAP_SETGID"],
              "permitted": ["CAP_CHOWN","CAP_KILL","CAP_SETUID","CAP_SETGID"]
            },
            "noNewPrivileges": true
          },
          "root": {"path": "rootfs", "readonly": {{(readonlyRootfs ? "true" : "false")}}},
          "hostname": "{{id}}",
          "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid","noexec","nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid","strictatime","mode=755","size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid","noexec","nodev","mode=1777","size=65536k"]}
          ],
          "linux": {
            "cgroupsPath": "/default/{{id}}",
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
          }
        }
        """;
    }

    private static void Expect(bool condition, string failure)
    {
        if (!condition)
        {
            throw new InvalidOperationException(failure);
        }
    }
}
