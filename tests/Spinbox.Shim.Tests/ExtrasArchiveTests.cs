using System.Formats.Tar;
using Microsoft.Extensions.Logging.Abstractions;
using Spinbox.Shim.Settings;

namespace Spinbox.Shim.Tests;

public sealed class ExtrasArchiveTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spinbox-tar-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private ExtraFile[] Files()
    {
        File.WriteAllText(Path.Combine(_dir, "b"), "bee");
        File.WriteAllText(Path.Combine(_dir, "a"), "ay");
        return [new("/usr/local/bin/zeta", Path.Combine(_dir, "b"), 493), new("/etc/alpha.conf", Path.Combine(_dir, "a"), 420)];
    }

    [Fact]
    public void TarIsSortedOwnedByRootWithExactModesAndNamedByItsHash()
    {
        var (path, reused) = ExtrasArchive.GetOrBuild(Files(), Path.Combine(_dir, "cache"), NullLogger.Instance);
        Assert.False(reused);
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
        Assert.Equal(hash + ".tar", Path.GetFileName(path));
        Assert.Equal(0, new FileInfo(path).Length % 512);
        using var reader = new TarReader(File.OpenRead(path));
        var first = reader.GetNextEntry()!;
        var second = reader.GetNextEntry()!;
        Assert.Equal(("etc/alpha.conf", (UnixFileMode)420, 0, 0), (first.Name, first.Mode, first.Uid, first.Gid));
        Assert.Equal(("usr/local/bin/zeta", (UnixFileMode)493), (second.Name, second.Mode));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(0), second.ModificationTime);
        Assert.Equal("bee", new StreamReader(second.DataStream!).ReadToEnd());
        Assert.Null(reader.GetNextEntry());
    }

    [Fact]
    public void SameFilesReuseTheCachedTarWithoutRebuilding()
    {
        string cache = Path.Combine(_dir, "cache");
        var (p1, r1) = ExtrasArchive.GetOrBuild(Files(), cache, NullLogger.Instance);
        var written = File.GetLastWriteTimeUtc(p1);
        var (p2, r2) = ExtrasArchive.GetOrBuild(Files().Reverse().ToArray(), cache, NullLogger.Instance);
        Assert.Equal((p1, false, true), (p2, r1, r2));
        Assert.Equal(written, File.GetLastWriteTimeUtc(p2));
    }

    [Fact]
    public void DifferentModeGivesADifferentTar()
    {
        string cache = Path.Combine(_dir, "cache");
        var files = Files();
        var (p1, _) = ExtrasArchive.GetOrBuild(files, cache, NullLogger.Instance);
        var (p2, _) = ExtrasArchive.GetOrBuild([files[0] with { Mode = 448 }, files[1]], cache, NullLogger.Instance);
        Assert.NotEqual(p1, p2);
    }
}
