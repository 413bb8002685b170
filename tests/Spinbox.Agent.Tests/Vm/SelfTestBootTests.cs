using System.Formats.Tar;
using Xunit.Abstractions;

namespace Spinbox.Agent.Tests.Vm;

/// <summary>
/// The real agent as PID 1 under QEMU TCG with spinbox.selftest=NAME: it drives its own container code
/// (crun, mounts, reaping, extras, supervisor) with stdio on the console, then powers off. The disks are
/// QEMU's own virtio-blk, so these need no host vsock peer.
/// </summary>
public sealed class SelfTestBootTests(ITestOutputHelper output)
{
    private const string Secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [AgentVmFact]
    public async Task ContainerSelfTestRunsCrunInTheVm()
    {
        using var dir = new TempRoot();
        string rootfs = GuestImages.BusyboxRootfs(dir.Path);

        string console = await BootAsync(dir.Path, "container", Disk(rootfs, "rootfs", readOnly: true));

        Assert.Contains("spinbox-agent: selftest: PASS", console);
        Assert.Contains("selftest-hi", console);
        Assert.Contains("selftest-exec", console);
        Assert.Contains("selftest: missing executable error: crun create c2 failed", console);
        Assert.Contains("`/no/such`", console);
        Assert.DoesNotContain("no pivot_root", console);
    }

    [AgentVmFact]
    public async Task ExtrasSelfTestInjectsFilesAndRunsTheSupervisor()
    {
        using var dir = new TempRoot();
        string rootfs = GuestImages.BusyboxRootfs(dir.Path);
        string extras = Path.Combine(dir.Path, "extras.tar");
        await File.WriteAllBytesAsync(extras, TestTar.Build(
            ("usr/local/bin/hello-extra", "#!/bin/sh\necho hello-extra-ran\n", TestTar.Octal(0b111_101_101)),
            ("run/spin-stack/spin-supervisor",
                "#!/bin/sh\n" +
                "echo \"supervisor-ran conf-mode=$(stat -c %a \"$SPIN_SUPERVISOR_CONFIG\") env-secret=$(env | grep -c 0123456789abcdef)\"\n" +
                "grep -q '^SPIN_SECRET=' \"$SPIN_SUPERVISOR_CONFIG\" && echo conf-has-secret\n" +
                "exec sleep 1000\n",
                TestTar.Octal(0b111_101_101))));

        string console = await BootAsync(dir.Path, "extras",
            [.. Disk(rootfs, "rootfs", readOnly: false), .. Disk(extras, "extras", readOnly: true)]);

        Assert.Contains("spinbox-agent: selftest: PASS", console);
        Assert.Contains("-rwxr-xr-x", console);
        Assert.Contains("hello-extra-ran", console);
        Assert.Contains("supervisor-ran conf-mode=600 env-secret=0", console);
        Assert.Contains("conf-has-secret", console);
        Assert.DoesNotContain(Secret, console);
    }

    private async Task<string> BootAsync(string dir, string selfTest, IEnumerable<string> devices)
    {
        using var qemu = new QemuGuest(Path.Combine(dir, "console.log"), $"spinbox.selftest={selfTest}", devices);
        bool exited = await qemu.WaitForExitAsync(TimeSpan.FromSeconds(60));
        string console = qemu.Console();
        output.WriteLine($"QEMU {(exited ? $"exited with {qemu.ExitCode}" : "was killed")} after {qemu.Started.Elapsed.TotalSeconds:F1} s");
        output.WriteLine(console);
        output.WriteLine(await qemu.Stderr);
        Assert.True(exited, "the guest did not power off within 60 s");
        return console;
    }

    /// <summary>A QEMU virtio-blk disk with a serial; writable ones use snapshot=on so the image stays as built.</summary>
    private static string[] Disk(string image, string serial, bool readOnly)
    {
        string options = readOnly ? "readonly=on" : "snapshot=on";
        return ["-drive", $"file={image},if=none,id={serial},format=raw,{options}", "-device", $"virtio-blk-pci,drive={serial},serial={serial}"];
    }
}
