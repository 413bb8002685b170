using Spinbox.GuestAgent.Extras;

namespace Spinbox.Agent.Tests;

public class ExtrasServiceTests
{
    private static readonly UnixFileMode Mode644 = TestTar.Octal(0b110_100_100);

    [Theory]
    [InlineData(false, false, false, true)]
    [InlineData(true, false, false, false)]
    [InlineData(true, true, false, true)]
    [InlineData(true, false, true, true)]
    public void ExtractsOncePerBootUnlessForced(bool marker, bool request, bool cmdline, bool expected) =>
        Assert.Equal(expected, ExtrasService.ShouldExtract(marker, request, cmdline));

    [Fact]
    public void MarkerStopsASecondExtractionAndRemembersTheFiles()
    {
        using var root = new TempRoot();
        string marker = root["/run/spinbox/extras.extracted"];
        var first = TestTar.Build(("etc/a.conf", "first", Mode644));
        var second = TestTar.Build(("etc/a.conf", "second", Mode644));

        var service = new ExtrasService(root.Path, marker);
        Assert.True(service.ExtractIfNeeded(() => new MemoryStream(first), false, false));
        Assert.True(File.Exists(marker));

        var afterRestart = new ExtrasService(root.Path, marker);
        Assert.False(afterRestart.ExtractIfNeeded(() => new MemoryStream(second), false, false));
        Assert.Equal("first", File.ReadAllText(root["/etc/a.conf"]));
        Assert.Equal(new[] { "/etc/a.conf" }, afterRestart.InjectedFiles);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void ForceExtractsAgain(bool request, bool cmdline)
    {
        using var root = new TempRoot();
        string marker = root["/run/spinbox/extras.extracted"];
        var service = new ExtrasService(root.Path, marker);
        service.ExtractIfNeeded(() => new MemoryStream(TestTar.Build(("etc/a.conf", "first", Mode644))), false, false);

        Assert.True(service.ExtractIfNeeded(() => new MemoryStream(TestTar.Build(("etc/a.conf", "second", Mode644), ("etc/b", "b", Mode644))), request, cmdline));

        Assert.Equal("second", File.ReadAllText(root["/etc/a.conf"]));
        Assert.Equal(new[] { "/etc/a.conf", "/etc/b" }, service.InjectedFiles);
        Assert.Equal(new[] { "/etc/a.conf", "/etc/b" }, File.ReadAllLines(marker));
    }

    [Fact]
    public void ABadArchiveLeavesNoMarker()
    {
        using var root = new TempRoot();
        string marker = root["/run/spinbox/extras.extracted"];
        var service = new ExtrasService(root.Path, marker);

        Assert.Throws<InvalidExtrasException>(() => service.ExtractIfNeeded(() => new MemoryStream(TestTar.Build(("../x", "x", Mode644))), false, false));

        Assert.False(File.Exists(marker));
        Assert.Empty(service.InjectedFiles);
    }
}
