using Spinbox.Agent.V1;
using Spinbox.GuestAgent.Supervisor;

namespace Spinbox.Agent.Tests;

[Collection("umask")]
public class SupervisorSettingsTests
{
    private const string Secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private static SupervisorConfig Config() => new()
    {
        WorkspaceId = "550e8400-e29b-41d4-a716-446655440000",
        Secret = Secret,
        ControlPlane = "https://control.example.com:443",
    };

    [Fact]
    public void WritesKeyValueLinesWithTheDefaultMetadataAddress()
    {
        Assert.Equal(
            "SPIN_WORKSPACE_ID=550e8400-e29b-41d4-a716-446655440000\n" +
            $"SPIN_SECRET={Secret}\n" +
            "SPIN_CONTROL_PLANE=https://control.example.com:443\n" +
            "SPIN_METADATA_ADDR=169.254.169.254:80\n",
            SupervisorSettings.Render(Config()));
    }

    [Fact]
    public void FileIsOwnerOnlyEvenWhenItReplacesAWorldReadableOne()
    {
        using var root = new TempRoot();
        string path = root["/run/spin-stack/supervisor.conf"];
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, TestTar.Octal(0b110_100_100));

        var config = Config();
        config.MetadataAddr = "10.0.0.1:8080";
        using (new Umask(0))
        {
            SupervisorSettings.Write(path, config);
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Contains("SPIN_METADATA_ADDR=10.0.0.1:8080\n", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void RefusesAMissingSecretNamingTheField()
    {
        var config = Config();
        config.Secret = "";

        var e = Assert.Throws<InvalidSupervisorConfigException>(() => SupervisorSettings.Render(config));
        Assert.Contains("supervisor.secret", e.Message);
    }

    [Fact]
    public void ABadSecretIsRefusedWithoutEchoingIt()
    {
        var config = Config();
        config.Secret = "abc\nSPIN_CONTROL_PLANE=https://evil";

        var e = Assert.Throws<InvalidSupervisorConfigException>(() => SupervisorSettings.Render(config));
        Assert.Contains("supervisor.secret", e.Message);
        Assert.DoesNotContain("abc", e.Message);
        Assert.DoesNotContain("evil", e.Message);
    }
}
