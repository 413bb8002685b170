namespace Spinbox.EndToEnd.Tests;

/// <summary>The release string of the guest kernel that spinbox boots (file `release` beside vmlinux).</summary>
public static class GuestKernel
{
    /// <summary>
    /// Reads SPINBOX_KERNEL_DIR/release when set, else asks guest-kernel/build.sh for its cached folder
    /// (instant once built; `make test` builds it before the tests run).
    /// </summary>
    public static async Task<string> ReleaseAsync()
    {
        var dir = Environment.GetEnvironmentVariable("SPINBOX_KERNEL_DIR");
        if (string.IsNullOrEmpty(dir))
        {
            var r = await ProcessRunner.RunAsync("bash", [Path.Combine(RepoPaths.Root, "guest-kernel", "build.sh")], TimeSpan.FromSeconds(60));
            if (r.ExitCode != 0 || r.TimedOut)
                throw new InvalidOperationException($"guest-kernel/build.sh did not give the kernel folder (run `make kernel` first): {r.Describe()}");
            dir = r.Stdout.Trim();
        }
        var release = Path.Combine(dir, "release");
        if (!File.Exists(release))
            throw new InvalidOperationException($"guest kernel folder {dir} has no 'release' file");
        return (await File.ReadAllTextAsync(release)).Trim();
    }

    public static string HostRelease() => File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
}
