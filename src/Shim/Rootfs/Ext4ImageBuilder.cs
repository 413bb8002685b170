using System.Diagnostics;

namespace Spinbox.Shim.Rootfs;

/// <summary>
/// Copies a rootfs folder into a sparse ext4 image (mkfs.ext4 -d) that the VM gets as its root disk.
/// The image has room to spare for the container's writes.
/// </summary>
public static class Ext4ImageBuilder
{
    private const long MiB = 1024 * 1024;

    public static async Task BuildAsync(string sourceDir, string imagePath, long extraBytes, CancellationToken ct)
    {
        long used = MeasureBytes(sourceDir);
        long size = RoundUp(Math.Max(64 * MiB, used + used / 2 + extraBytes), MiB);
        using (var f = new FileStream(imagePath, FileMode.Create, FileAccess.Write)) f.SetLength(size);
        string mkfs = new[] { "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4" }.FirstOrDefault(File.Exists)
                      ?? throw new FileNotFoundException("mkfs.ext4 not found (install e2fsprogs)");
        var psi = new ProcessStartInfo(mkfs) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        // No journal: the image lives as long as the VM; lazy init keeps mkfs fast.
        foreach (var a in new[] { "-q", "-F", "-O", "^has_journal", "-E", "lazy_itable_init=1,root_owner=0:0", "-d", sourceDir, imagePath })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0) throw new IOException($"mkfs.ext4 -d {sourceDir} failed ({p.ExitCode}): {(await err).Trim()}");
    }

    private static long MeasureBytes(string dir)
    {
        long total = 0;
        var opts = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true };
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos("*", opts))
            total += 4096 + (entry is FileInfo fi && fi.LinkTarget is null ? fi.Length : 0);
        return total;
    }

    private static long RoundUp(long v, long unit) => (v + unit - 1) / unit * unit;
}
