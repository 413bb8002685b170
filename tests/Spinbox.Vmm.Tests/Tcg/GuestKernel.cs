using System.Diagnostics;

namespace Spinbox.Vmm.Tests.Tcg;

/// <summary>
/// Finds the guest kernel: $SPINBOX_GUEST_KERNEL, else guest-kernel/build.sh's cached output. A build that
/// is not cached takes minutes, so it is not started from a test: the test is skipped with the reason.
/// </summary>
internal static class GuestKernel
{
    private static readonly Lazy<(string? Vmlinux, string Reason)> Found = new(Locate);

    public static string? Vmlinux => Found.Value.Vmlinux;
    public static string SkipReason => Found.Value.Reason;

    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "guest-kernel", "build.sh"))) return dir.FullName;
        return null;
    }

    private static (string?, string) Locate()
    {
        string? env = Environment.GetEnvironmentVariable("SPINBOX_GUEST_KERNEL");
        if (!string.IsNullOrEmpty(env))
            return File.Exists(env) ? (env, "") : (null, $"SPINBOX_GUEST_KERNEL={env} does not exist");
        string? root = RepositoryRoot();
        if (root == null) return (null, "guest-kernel/build.sh not found above the test binaries");
        if (Run("pgrep", "-f guest-kernel/build.sh", 5000).Output.Trim().Length > 0)
            return (null, "a guest kernel build is running right now; rerun when it finished");
        // Cached builds print their folder at once; give up quickly instead of starting a 7-minute build.
        var (exit, output) = Run("bash", $"{Path.Combine(root, "guest-kernel", "build.sh")}", 20_000);
        string folder = output.Trim().Split('\n').LastOrDefault()?.Trim() ?? "";
        string vmlinux = Path.Combine(folder, "vmlinux");
        if (exit == 0 && File.Exists(vmlinux)) return (vmlinux, "");
        return (null, exit == -1 ? "the guest kernel is not built yet (bash guest-kernel/build.sh takes ~7 min)"
                                 : $"guest-kernel/build.sh failed with exit code {exit}");
    }

    private static (int Exit, string Output) Run(string file, string args, int timeoutMs)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(entireProcessTree: true); p.WaitForExit(); return (-1, ""); }
        return (p.ExitCode, output.Result);
    }
}

/// <summary>A [Fact] that is skipped, with the reason, when QEMU or the guest kernel is missing.</summary>
public sealed class QemuGuestFactAttribute : FactAttribute
{
    public const string Qemu = "/usr/bin/qemu-system-x86_64";

    public QemuGuestFactAttribute()
    {
        if (!File.Exists(Qemu)) Skip = $"{Qemu} is not installed";
        else if (GuestKernel.Vmlinux == null) Skip = GuestKernel.SkipReason;
    }
}

/// <summary>A [Theory] that is skipped, with the reason, when QEMU or the guest kernel is missing.</summary>
public sealed class QemuGuestTheoryAttribute : TheoryAttribute
{
    public QemuGuestTheoryAttribute()
    {
        if (!File.Exists(QemuGuestFactAttribute.Qemu)) Skip = $"{QemuGuestFactAttribute.Qemu} is not installed";
        else if (GuestKernel.Vmlinux == null) Skip = GuestKernel.SkipReason;
    }
}
