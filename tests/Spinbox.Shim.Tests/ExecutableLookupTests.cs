using System.Text.Json.Nodes;
using Spinbox.Shim.Rootfs;
using Spinbox.Shim.Service;

namespace Spinbox.Shim.Tests;

public sealed class ExecutableLookupTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("spinbox-rootfs-").FullName;

    public ExecutableLookupTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "bin"));
        File.WriteAllText(Path.Combine(_root, "bin", "busybox"), "");
        // An absolute link must resolve inside the rootfs, not on the host.
        File.CreateSymbolicLink(Path.Combine(_root, "bin", "sh"), "/bin/busybox");
        File.CreateSymbolicLink(Path.Combine(_root, "bin", "hostonly"), "/etc/hostname");
    }

    public void Dispose() => Directory.Delete(_root, true);

    private static JsonNode Spec(string cmd, string path = "/usr/bin:/bin") =>
        JsonNode.Parse($$$"""{"process":{"args":["{{{cmd}}}"],"env":["PATH={{{path}}}"],"cwd":"/"}}""")!;

    [Theory]
    [InlineData("/bin/sh")]
    [InlineData("sh")]
    [InlineData("/bin/../bin/busybox")]
    public void FindsCommandsInTheRootfs(string cmd) => ExecutableLookup.RequireCommand(Spec(cmd), _root);

    [Theory]
    [InlineData("/no/such", "`/no/such` not found in the container's rootfs")]
    [InlineData("nosuch", "`nosuch` not found in $PATH (/usr/bin:/bin)")]
    [InlineData("/bin/hostonly", "`/bin/hostonly` not found")]
    public void MissingCommandNamesIt(string cmd, string expected)
    {
        var e = Assert.Throws<SettingsException>(() => ExecutableLookup.RequireCommand(Spec(cmd), _root));
        Assert.StartsWith("process.args[0]:", e.Message);
        Assert.Contains(expected, e.Message);
    }
}

public sealed class ExecutableLookupInjectedTests
{
    [Fact]
    public void AnInjectedFileCountsAsPresent()
    {
        var root = Directory.CreateTempSubdirectory("spinbox-rootfs-").FullName;
        try
        {
            var spec = JsonNode.Parse("""{"process":{"args":["myapp"],"env":["PATH=/usr/local/bin:/bin"],"cwd":"/"}}""");
            ExecutableLookup.RequireCommand(spec, root, new HashSet<string> { "/usr/local/bin/myapp" });
            Assert.Throws<SettingsException>(() => ExecutableLookup.RequireCommand(spec, root, new HashSet<string>()));
        }
        finally { Directory.Delete(root, true); }
    }
}
