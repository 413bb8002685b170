using System.Diagnostics;
using Spinbox.Shim.Rootfs;

namespace Spinbox.Shim.Tests;

public sealed class Ext4ImageBuilderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spinbox-ext4-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task ImageHoldsTheFolderWithItsModes()
    {
        string root = Path.Combine(_dir, "root");
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        File.WriteAllText(Path.Combine(root, "bin", "tool"), "#!/bin/sh\necho hi\n");
        File.SetUnixFileMode(Path.Combine(root, "bin", "tool"), (UnixFileMode)0x1ed);
        string image = Path.Combine(_dir, "root.ext4");
        await Ext4ImageBuilder.BuildAsync(root, image, 16 * 1024 * 1024, CancellationToken.None);
        Assert.True(new FileInfo(image).Length >= 64L * 1024 * 1024);

        // debugfs reads the image without mounting it: the file and its mode must be there.
        var psi = new ProcessStartInfo("debugfs", ["-R", "stat /bin/tool", image]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Contains("Mode:  0755", output);
        Assert.Contains("Size: 18", output);
    }
}
