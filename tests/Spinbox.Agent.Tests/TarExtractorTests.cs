using System.Formats.Tar;
using Spinbox.GuestAgent.Extras;

namespace Spinbox.Agent.Tests;

[Collection("umask")]
public class TarExtractorTests
{
    private static Func<Stream> Open(byte[] tar) => () => new MemoryStream(tar);

    [Fact]
    public void WritesFilesWithExactModesWhateverTheUmask()
    {
        using var root = new TempRoot();
        var tar = TestTar.Build(
            ("usr/local/bin/app", "#!/bin/sh\necho app\n", TestTar.Octal(0b111_101_101)),      // 0755
            ("/etc/app/config.json", "{}", TestTar.Octal(0b110_100_100)),                       // 0644
            ("run/spin-stack/secret-ish", "x", TestTar.Octal(0b110_000_000)),                   // 0600
            ("opt/tool", "y", TestTar.Octal(0b100_111_101_101)));                               // 04755

        List<string> files;
        using (new Umask(0b000_111_111))
        {
            files = TarExtractor.Extract(Open(tar), root.Path);
        }

        Assert.Equal(new[] { "/usr/local/bin/app", "/etc/app/config.json", "/run/spin-stack/secret-ish", "/opt/tool" }, files);
        Assert.Equal("#!/bin/sh\necho app\n", File.ReadAllText(root["/usr/local/bin/app"]));
        Assert.Equal(TestTar.Octal(0b111_101_101), File.GetUnixFileMode(root["/usr/local/bin/app"]));
        Assert.Equal(TestTar.Octal(0b110_100_100), File.GetUnixFileMode(root["/etc/app/config.json"]));
        Assert.Equal(TestTar.Octal(0b110_000_000), File.GetUnixFileMode(root["/run/spin-stack/secret-ish"]));
        Assert.Equal(TestTar.Octal(0b100_111_101_101), File.GetUnixFileMode(root["/opt/tool"]));
        // Parents the archive does not list are created 0755.
        Assert.Equal(TestTar.Octal(0b111_101_101), File.GetUnixFileMode(root["/usr/local/bin"]));
        Assert.Equal(TestTar.Octal(0b111_101_101), File.GetUnixFileMode(root["/etc/app"]));
        Assert.Empty(Directory.GetFiles(root["/usr/local/bin"], ".*"));
    }

    [Fact]
    public void ReplacesAnExistingFileAndItsMode()
    {
        using var root = new TempRoot();
        Directory.CreateDirectory(root["/bin"]);
        File.WriteAllText(root["/bin/tool"], "old");
        File.SetUnixFileMode(root["/bin/tool"], TestTar.Octal(0b111_111_111));

        TarExtractor.Extract(Open(TestTar.Build(("bin/tool", "new", TestTar.Octal(0b111_000_000)))), root.Path);

        Assert.Equal("new", File.ReadAllText(root["/bin/tool"]));
        Assert.Equal(TestTar.Octal(0b111_000_000), File.GetUnixFileMode(root["/bin/tool"]));
    }

    [Fact]
    public void RefusesDotDotAndWritesNothing()
    {
        using var root = new TempRoot();
        var tar = TestTar.Build(("good/file", "g", TestTar.Octal(0b110_100_100)), ("good/../../escape", "e", TestTar.Octal(0b110_100_100)));

        var e = Assert.Throws<InvalidExtrasException>(() => TarExtractor.Extract(Open(tar), root.Path));

        Assert.Contains("good/../../escape", e.Message);
        Assert.False(File.Exists(root["/good/file"]));
        Assert.False(File.Exists(System.IO.Path.Combine(root.Path, "..", "escape")));
    }

    [Theory]
    [InlineData(TarEntryType.SymbolicLink)]
    [InlineData(TarEntryType.HardLink)]
    [InlineData(TarEntryType.CharacterDevice)]
    public void RefusesEntriesThatAreNotFilesOrFolders(TarEntryType type)
    {
        using var root = new TempRoot();

        var e = Assert.Throws<InvalidExtrasException>(() => TarExtractor.Extract(Open(TestTar.WithEntry(type, "etc/link", "/etc/shadow")), root.Path));

        Assert.Contains("etc/link", e.Message);
        Assert.Contains(type.ToString(), e.Message);
        Assert.False(File.Exists(root["/ok.txt"]));
    }

    [Fact]
    public void RefusesGarbage()
    {
        using var root = new TempRoot();
        var garbage = new byte[1024];
        Array.Fill(garbage, (byte)'x');

        var e = Assert.Throws<InvalidExtrasException>(() => TarExtractor.Extract(Open(garbage), root.Path));
        Assert.Contains("tar", e.Message);
    }

    [Fact]
    public void AnArchivePaddedWithZerosLikeADiskIsRead()
    {
        using var root = new TempRoot();
        var tar = TestTar.Build(("a", "1", TestTar.Octal(0b110_100_100)));
        var disk = new byte[tar.Length + (1 << 20)];
        tar.CopyTo(disk, 0);

        Assert.Equal(new[] { "/a" }, TarExtractor.Extract(Open(disk), root.Path));
    }
}
