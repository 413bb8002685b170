using Spinbox.Shim.Service;
using Spinbox.Shim.Settings;

namespace Spinbox.Shim.Tests;

public class SupervisorSettingsTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private static readonly ExtraFile[] WithBinary = [new("/run/spin-stack/spin-supervisor", "/bin/true", 493)];

    private static Dictionary<string, string> Valid() => new()
    {
        ["io.spin.supervisor.enabled"] = "true",
        ["io.spin.supervisor.workspace_id"] = "550e8400-e29b-41d4-a716-446655440000",
        ["io.spin.supervisor.secret"] = Secret,
        ["io.spin.supervisor.control_plane"] = "https://control.example.com:443",
    };

    [Fact]
    public void TheSeedExampleIsValidAndGetsTheDefaultMetadataAddress()
    {
        var cfg = SupervisorSettings.Parse(new ContainerSettings(Valid()), WithBinary);
        Assert.NotNull(cfg);
        Assert.Equal("550e8400-e29b-41d4-a716-446655440000", cfg!.WorkspaceId);
        Assert.Equal("https://control.example.com:443", cfg.ControlPlane);
        Assert.Equal("169.254.169.254:80", cfg.MetadataAddr);
        Assert.Equal(Secret, cfg.Secret);
    }

    [Fact]
    public void NotEnabledMeansNoSupervisor()
    {
        Assert.Null(SupervisorSettings.Parse(new ContainerSettings(new Dictionary<string, string>()), []));
        Assert.Null(SupervisorSettings.Parse(new ContainerSettings(new Dictionary<string, string> { ["io.spin.supervisor.enabled"] = "false" }), []));
    }

    [Theory]
    [InlineData("io.spin.supervisor.enabled", "yes", "io.spin.supervisor.enabled", "\"true\" or \"false\"")]
    [InlineData("io.spin.supervisor.workspace_id", null, "io.spin.supervisor.workspace_id", "missing")]
    [InlineData("io.spin.supervisor.workspace_id", "not-a-uuid", "io.spin.supervisor.workspace_id", "not a UUID")]
    [InlineData("io.spin.supervisor.secret", null, "io.spin.supervisor.secret", "missing")]
    [InlineData("io.spin.supervisor.secret", "abcd", "io.spin.supervisor.secret", "64 hexadecimal")]
    [InlineData("io.spin.supervisor.secret", "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "io.spin.supervisor.secret", "not all hex")]
    [InlineData("io.spin.supervisor.control_plane", null, "io.spin.supervisor.control_plane", "missing")]
    [InlineData("io.spin.supervisor.control_plane", "ftp://x", "io.spin.supervisor.control_plane", "http or https")]
    [InlineData("io.spin.supervisor.control_plane", "control.example.com", "io.spin.supervisor.control_plane", "http or https")]
    [InlineData("io.spin.supervisor.metadata_addr", "169.254.169.254", "io.spin.supervisor.metadata_addr", "host:port")]
    [InlineData("io.spin.supervisor.metadata_addr", "host:99999", "io.spin.supervisor.metadata_addr", "host:port")]
    public void EachBadValueNamesItsAnnotation(string key, string? value, string named, string problem)
    {
        var d = Valid();
        if (value is null) d.Remove(key); else d[key] = value;
        var e = Assert.Throws<SettingsException>(() => SupervisorSettings.Parse(new ContainerSettings(d), WithBinary));
        Assert.StartsWith(named + ":", e.Message);
        Assert.Contains(problem, e.Message);
        Assert.DoesNotContain(Secret, e.Message);
    }

    [Fact]
    public void EnabledWithoutTheBinaryIsAnError()
    {
        var e = Assert.Throws<SettingsException>(() => SupervisorSettings.Parse(new ContainerSettings(Valid()), []));
        Assert.Contains("/run/spin-stack/spin-supervisor", e.Message);
        Assert.Contains("io.spin.extras.files", e.Message);
    }

    [Fact]
    public void AnnotationWinsOverLabel()
    {
        var spec = System.Text.Json.Nodes.JsonNode.Parse("""{"annotations":{"k":"from-annotation"}}""");
        var s = ContainerSettings.Merge(spec, new Dictionary<string, string> { ["k"] = "from-label", ["only"] = "label" });
        Assert.Equal("from-annotation", s.Get("k"));
        Assert.Equal("label", s.Get("only"));
    }
}
