using Spinbox.GuestAgent.Containers;
using Spinbox.GuestAgent.Extras;
using Spinbox.GuestAgent.Service;
using Spinbox.GuestAgent.Supervisor;

namespace Spinbox.Agent.Tests;

public class SmallPartsTests
{
    [Theory]
    [InlineData("12.34 56.78\n", 12340ul)]
    [InlineData("0.05 0.01", 50ul)]
    [InlineData("garbage", 0ul)]
    public void UptimeIsReadInMilliseconds(string text, ulong expected) =>
        Assert.Equal(expected, HelloInfo.UptimeMs(text));

    [Theory]
    [InlineData("0::/default/c1\n", "/default/c1")]
    [InlineData("1:name=systemd:/x\n0::/\n", "/")]
    [InlineData("1:cpu:/x\n", null)]
    [InlineData("0::/../etc\n", null)]
    public void FindsTheUnifiedCgroupPath(string text, string? expected) =>
        Assert.Equal(expected, Cgroups.UnifiedPath(text));

    [Theory]
    [InlineData("abc", true)]
    [InlineData("c1.exec_2-x", true)]
    [InlineData("", false)]
    [InlineData(".hidden", false)]
    [InlineData("a/b", false)]
    [InlineData("a b", false)]
    public void ContainerIdsAreSafeFileNames(string id, bool valid) =>
        Assert.Equal(valid, Identifiers.IsValid(id));

    [Theory]
    [InlineData("usr/local/bin/app", "/usr/local/bin/app")]
    [InlineData("/usr/local/bin/app", "/usr/local/bin/app")]
    [InlineData("./etc//app/./config.json", "/etc/app/config.json")]
    public void NormalizesArchiveNames(string name, string expected) =>
        Assert.Equal(expected, ExtrasPaths.Normalize(name));

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("usr/../../etc/passwd")]
    [InlineData("/a/..")]
    [InlineData("./")]
    [InlineData("")]
    public void RefusesUnsafeArchiveNames(string name)
    {
        var e = Assert.Throws<InvalidExtrasException>(() => ExtrasPaths.Normalize(name));
        Assert.Contains($"\"{name}\"", e.Message);
    }

    [Fact]
    public void BackoffDoublesToThirtySecondsAndResetsAfterAHealthyRun()
    {
        TimeSpan? delay = null;
        var seen = new List<double>();
        for (int i = 0; i < 7; i++)
        {
            delay = RestartBackoff.Next(delay, TimeSpan.FromSeconds(1));
            seen.Add(delay.Value.TotalSeconds);
        }

        Assert.Equal(new double[] { 1, 2, 4, 8, 16, 30, 30 }, seen);
        Assert.Equal(TimeSpan.FromSeconds(1), RestartBackoff.Next(delay, TimeSpan.FromMinutes(5)));
    }
}
