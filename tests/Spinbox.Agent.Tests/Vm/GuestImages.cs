using System.Diagnostics;

namespace Spinbox.Agent.Tests.Vm;

/// <summary>
/// The guest kernel (guest-kernel/build.sh's cached output; an uncached 7-minute build is not started
/// from a test), the agent initramfs (guest-kernel/build-initramfs.sh, cached by its inputs) and
/// busybox rootfs images made with mkfs.ext4 -d.
/// </summary>
internal static class GuestImages
{
    public const string Qemu = "/usr/bin/qemu-system-x86_64";

    private static readonly Lazy<(string? Kernel, string? Initramfs, string Reason)> Found = new(Locate);

    public static string? Kernel => Found.Value.Kernel;

    public static string? Initramfs => Found.Value.Initramfs;

    /// <summary>Why the VM tests cannot run here, or null when they can.</summary>
    public static string? Missing => Found.Value.Kernel is null || Found.Value.Initramfs is null ? Found.Value.Reason : null;

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "guest-kernel", "build-initramfs.sh")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("guest-kernel/build-initramfs.sh not found above the test binaries");
    }

    /// <summary>An ext4 image holding busybox as /bin/busybox with every applet linked to it.</summary>
    public static string BusyboxRootfs(string dir)
    {
        string tree = Path.Combine(dir, "rootfs-tree");
        string bin = Path.Combine(tree, "bin");
        Directory.CreateDirectory(bin);
        foreach (string d in new[] { "proc", "dev", "sys", "tmp", "etc" })
        {
            Directory.CreateDirectory(Path.Combine(tree, d));
        }

        File.Copy("/bin/busybox", Path.Combine(bin, "busybox"));
        var (_, applets, _) = Run("/bin/busybox", ["--list"], 10_000);
        foreach (string applet in applets.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string link = Path.Combine(bin, applet);
            if (!File.Exists(link))
            {
                File.CreateSymbolicLink(link, "busybox");
            }
        }

        string image = Path.Combine(dir, "rootfs.ext4");
        var (exit, _, errors) = Run("mkfs.ext4", ["-q", "-F", "-d", tree, image, "16M"], 30_000);
        if (exit != 0)
        {
            throw new InvalidOperationException($"mkfs.ext4 failed ({exit}): {errors}");
        }

        return image;
    }

    /// <summary>Runs a program, returning its exit code (-1 on timeout), its stdout and its stderr.</summary>
    public static (int Exit, string Output, string Errors) Run(string file, IEnumerable<string> args, int timeoutMs)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (-1, "", "");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static (string?, string?, string) Locate()
    {
        if (!File.Exists(Qemu))
        {
            return (null, null, $"{Qemu} is not installed");
        }

        foreach (string tool in new[] { "/sbin/mkfs.ext4", "/usr/bin/crun", "/bin/busybox" })
        {
            if (!File.Exists(tool))
            {
                return (null, null, $"{tool} is not installed");
            }
        }

        string root = RepositoryRoot();
        string? kernel = Environment.GetEnvironmentVariable("SPINBOX_GUEST_KERNEL");
        if (string.IsNullOrEmpty(kernel))
        {
            if (Run("pgrep", ["-f", "guest-kernel/build.sh"], 5000).Output.Trim().Length > 0)
            {
                return (null, null, "a guest kernel build is running right now; rerun when it has finished");
            }

            var (exit, output, _) = Run("bash", [Path.Combine(root, "guest-kernel", "build.sh")], 20_000);
            kernel = Path.Combine(output.Trim().Split('\n').LastOrDefault()?.Trim() ?? "", "vmlinux");
            if (exit != 0 || !File.Exists(kernel))
            {
                return (null, null, exit == -1 ? "the guest kernel is not built yet (bash guest-kernel/build.sh takes ~7 min)" : $"guest-kernel/build.sh failed ({exit})");
            }
        }

        var (iexit, ioutput, ierrors) = Run("bash", [Path.Combine(root, "guest-kernel", "build-initramfs.sh")], 300_000);
        string initramfs = ioutput.Trim().Split('\n').LastOrDefault()?.Trim() ?? "";
        if (iexit != 0 || !File.Exists(initramfs))
        {
            return (kernel, null, $"guest-kernel/build-initramfs.sh failed ({iexit}): {ierrors}");
        }

        return (kernel, initramfs, "");
    }
}

/// <summary>A [Fact] skipped, with the reason, where QEMU, the guest kernel or the initramfs is missing.</summary>
public sealed class AgentVmFactAttribute : FactAttribute
{
    public AgentVmFactAttribute()
    {
        if (GuestImages.Missing is { } reason)
        {
            Skip = reason;
        }
    }
}
