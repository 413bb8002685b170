using System.Text;
using System.Text.Json.Nodes;
using Spinbox.GuestAgent.Containers;

namespace Spinbox.Agent.Tests;

public class SpecRewriterTests
{
    private const string Spec = """
    {
      "ociVersion": "1.1.0",
      "process": {
        "args": ["/bin/sh"],
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
        "noNewPrivileges": true
      },
      "root": {"path": "/var/lib/containerd/rootfs", "readonly": true},
      "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/etc/resolv.conf", "type": "bind", "source": "/guest/resolv.conf", "options": ["rbind", "ro"]}
      ],
      "hooks": {"createRuntime": [{"path": "/usr/local/bin/nerdctl", "args": ["nerdctl", "oci-hook"]}]},
      "linux": {
        "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/cni-1234"}, {"type": "mount"}],
        "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]},
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"]
      }
    }
    """;

    private static JsonObject Rewrite(string spec, IReadOnlyList<string>? injected = null, Func<string, bool>? exists = null, List<string>? notes = null) =>
        JsonNode.Parse(SpecRewriter.Rewrite(Encoding.UTF8.GetBytes(spec), "/run/spinbox/containers/c1/rootfs", injected ?? [],
            exists ?? (p => p == "/guest/resolv.conf"), n => notes?.Add(n)))!.AsObject();

    [Fact]
    public void PointsRootAtTheGuestRootfsAndKeepsReadonly()
    {
        var spec = Rewrite(Spec);

        Assert.Equal("/run/spinbox/containers/c1/rootfs", (string?)spec["root"]!["path"]);
        Assert.True((bool)spec["root"]!["readonly"]!);
    }

    [Fact]
    public void DropsNamespacesThatNameHostPaths()
    {
        var notes = new List<string>();
        var spec = Rewrite(Spec, notes: notes);

        var types = spec["linux"]!["namespaces"]!.AsArray().Select(n => (string?)n!["type"]).ToArray();
        Assert.Equal(new[] { "pid", "mount" }, types);
        Assert.Contains(notes, n => n.Contains("/var/run/netns/cni-1234"));
    }

    [Fact]
    public void KeepsSecuritySettingsExactly()
    {
        var original = JsonNode.Parse(Spec)!;
        var spec = Rewrite(Spec);

        Assert.True(JsonNode.DeepEquals(original["linux"]!["seccomp"], spec["linux"]!["seccomp"]));
        Assert.True(JsonNode.DeepEquals(original["linux"]!["maskedPaths"], spec["linux"]!["maskedPaths"]));
        Assert.True(JsonNode.DeepEquals(original["linux"]!["readonlyPaths"], spec["linux"]!["readonlyPaths"]));
        Assert.True(JsonNode.DeepEquals(original["process"], spec["process"]));
    }

    [Fact]
    public void RefusesABindMountWhoseSourceIsNotInTheVm()
    {
        var e = Assert.Throws<InvalidSpecException>(() => Rewrite(Spec, exists: _ => false));

        Assert.Contains("/etc/resolv.conf", e.Message);
        Assert.Contains("/guest/resolv.conf", e.Message);
    }

    [Fact]
    public void DropsHooksWhoseProgramIsNotInTheVm()
    {
        var spec = Rewrite(Spec);

        Assert.Empty(spec["hooks"]!["createRuntime"]!.AsArray());
    }

    [Fact]
    public void BindsEachInjectedFileReadOnlyExceptVmOnlyOnes()
    {
        var spec = Rewrite(Spec, ["/usr/local/bin/app", "/run/spin-stack/spin-supervisor", "/etc/app/config.json"]);

        var added = spec["mounts"]!.AsArray().Skip(2).Select(m => m!.AsObject()).ToList();
        Assert.Equal(new[] { "/usr/local/bin/app", "/etc/app/config.json" }, added.Select(m => (string?)m["destination"]).ToArray());
        foreach (var mount in added)
        {
            Assert.Equal((string?)mount["destination"], (string?)mount["source"]);
            Assert.Equal("bind", (string?)mount["type"]);
            Assert.Contains("ro", mount["options"]!.AsArray().Select(o => (string?)o));
        }
    }

    [Fact]
    public void AnInjectedFileTheSpecAlreadyMountsIsNotMountedTwice()
    {
        var spec = Rewrite(Spec, ["/etc/resolv.conf"]);

        Assert.Single(spec["mounts"]!.AsArray(), m => (string?)m!["destination"] == "/etc/resolv.conf");
    }

    [Fact]
    public void CreatesRootWhenTheSpecHasNone()
    {
        var spec = Rewrite("""{"process": {"args": ["/bin/true"]}}""");

        Assert.Equal("/run/spinbox/containers/c1/rootfs", (string?)spec["root"]!["path"]);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    public void RejectsSpecsThatAreNotObjects(string text, string expected)
    {
        var e = Assert.Throws<InvalidSpecException>(() => Rewrite(text));
        Assert.Contains("spec_json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void DetectsATerminalRequest()
    {
        Assert.True(SpecRewriter.WantsTerminal(SpecRewriter.Parse("""{"process": {"terminal": true}}"""u8)));
        Assert.False(SpecRewriter.WantsTerminal(SpecRewriter.Parse("""{"process": {"terminal": false}}"""u8)));
    }
}
