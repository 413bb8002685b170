using Spinbox.GuestAgent.Boot;

namespace Spinbox.Agent.Tests;

public class KernelCmdlineTests
{
    [Fact]
    public void ParsesKeysValuesAndQuotedValues()
    {
        var cmdline = KernelCmdline.Parse("console=ttyS0 quiet spin.hostname=\"box one\" panic=-1\n");

        Assert.Equal("ttyS0", cmdline.Get("console"));
        Assert.Equal("", cmdline.Get("quiet"));
        Assert.Equal("box one", cmdline.Get("spin.hostname"));
        Assert.Equal("-1", cmdline.Get("panic"));
        Assert.Null(cmdline.Get("missing"));
    }

    [Theory]
    [InlineData("spin.extras_force=1", true)]
    [InlineData("spin.extras_force=yes", true)]
    [InlineData("spin.extras_force", true)]
    [InlineData("spin.extras_force=0", false)]
    [InlineData("spin.extras_force=1 spin.extras_force=0", false)]
    [InlineData("console=ttyS0", false)]
    public void ExtrasForceFollowsTheLastValue(string text, bool expected) =>
        Assert.Equal(expected, KernelCmdline.Parse(text).ExtrasForce);

    [Fact]
    public void ValueMayContainEqualsSigns() =>
        Assert.Equal("a=b", KernelCmdline.Parse("x=a=b").Get("x"));
}
