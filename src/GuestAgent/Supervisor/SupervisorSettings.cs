using Spinbox.Agent.V1;

namespace Spinbox.GuestAgent.Supervisor;

/// <summary>A supervisor setting the agent refuses; names the field, never echoes the secret.</summary>
internal sealed class InvalidSupervisorConfigException(string message) : Exception(message);

/// <summary>
/// Writes the supervisor's configuration file: KEY=VALUE lines, mode 0600, owned by root. The secret
/// is only ever in this file: never in the supervisor's environment, argv or the agent's log.
/// </summary>
internal static class SupervisorSettings
{
    public const string DefaultMetadataAddr = "169.254.169.254:80";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The file's text; refuses missing required fields and values that would break a line.</summary>
    public static string Render(SupervisorConfig config)
    {
        string workspace = Require(config.WorkspaceId, "supervisor.workspace_id");
        string secret = Require(config.Secret, "supervisor.secret");
        string controlPlane = Require(config.ControlPlane, "supervisor.control_plane");
        string metadata = config.MetadataAddr.Length == 0 ? DefaultMetadataAddr : Require(config.MetadataAddr, "supervisor.metadata_addr");
        return $"SPIN_WORKSPACE_ID={workspace}\nSPIN_SECRET={secret}\nSPIN_CONTROL_PLANE={controlPlane}\nSPIN_METADATA_ADDR={metadata}\n";
    }

    /// <summary>Writes the file so that it is 0600 from its first byte, replacing any old one whole.</summary>
    public static void Write(string path, SupervisorConfig config)
    {
        string text = Render(config);
        string dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        string temporary = Path.Combine(dir, $".{Path.GetFileName(path)}.tmp");
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly };
        using (var stream = new FileStream(temporary, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
        }

        File.SetUnixFileMode(temporary, OwnerOnly);
        File.Move(temporary, path, overwrite: true);
    }

    private static string Require(string value, string field)
    {
        if (value.Length == 0)
        {
            throw new InvalidSupervisorConfigException($"{field}: required when the supervisor is enabled");
        }

        if (value.AsSpan().IndexOfAny('\n', '\r', '\0') >= 0)
        {
            throw new InvalidSupervisorConfigException($"{field}: must not contain line breaks or NUL");
        }

        return value;
    }
}
