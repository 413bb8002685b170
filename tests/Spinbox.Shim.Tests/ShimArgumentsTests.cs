using Spinbox.Shim.Commands;

namespace Spinbox.Shim.Tests;

public class ShimArgumentsTests
{
    [Fact]
    public void ParsesContainerdStartInvocation()
    {
        var a = ShimArguments.Parse(["-namespace", "default", "-address", "/run/containerd/containerd.sock",
            "-publish-binary", "/usr/bin/containerd", "-id", "c1", "-debug", "start"]);
        Assert.Equal("default", a.Namespace);
        Assert.Equal("/run/containerd/containerd.sock", a.Address);
        Assert.Equal("/usr/bin/containerd", a.PublishBinary);
        Assert.Equal("c1", a.Id);
        Assert.True(a.Debug);
        Assert.Equal("start", a.Action);
    }

    [Fact]
    public void ParsesDeleteWithBundleAndInlineValues()
    {
        var a = ShimArguments.Parse(["--namespace=k8s.io", "-id=x", "-bundle", "/b", "delete"]);
        Assert.Equal(("k8s.io", "x", "/b", "delete"), (a.Namespace, a.Id, a.Bundle, a.Action));
    }

    [Fact]
    public void ServeArgumentsRoundTrip()
    {
        var a = ShimArguments.Parse(["-namespace", "n", "-address", "/a", "-publish-binary", "/p", "-id", "i", "start"]);
        var b = ShimArguments.Parse(a.ToServeArgs("/s.sock").ToList());
        Assert.Equal(("n", "/a", "/p", "i", "/s.sock", "serve"), (b.Namespace, b.Address, b.PublishBinary, b.Id, b.Socket, b.Action));
    }

    [Fact]
    public void MissingFlagValueIsAnError()
    {
        var e = Assert.Throws<ArgumentException>(() => ShimArguments.Parse(["-id"]));
        Assert.Contains("-id", e.Message);
    }
}
