using System.Net;
using Spinbox.Agent.V1;
using Spinbox.Shim.Service;

namespace Spinbox.Shim.Settings;

/// <summary>The io.spin.supervisor.* annotations, checked; the secret is never put in an error or a log.</summary>
public static class SupervisorSettings
{
    public const string Prefix = "io.spin.supervisor.";
    public const string Enabled = Prefix + "enabled";
    public const string WorkspaceId = Prefix + "workspace_id";
    public const string Secret = Prefix + "secret";
    public const string ControlPlane = Prefix + "control_plane";
    public const string MetadataAddr = Prefix + "metadata_addr";
    public const string BinaryPath = "/run/spin-stack/spin-supervisor";
    public const string DefaultMetadataAddr = "169.254.169.254:80";

    /// <returns>The supervisor's config, or null when it is not enabled.</returns>
    public static SupervisorConfig? Parse(ContainerSettings s, IReadOnlyList<ExtraFile> extras)
    {
        string? enabled = s.Get(Enabled);
        if (enabled is null || enabled == "false") return null;
        if (enabled != "true") throw new SettingsException($"{Enabled}: must be \"true\" or \"false\", got \"{enabled}\"");

        string workspace = Required(s, WorkspaceId);
        if (!Guid.TryParseExact(workspace, "D", out _))
            throw new SettingsException($"{WorkspaceId}: \"{workspace}\" is not a UUID (8-4-4-4-12 hex digits)");

        string secret = Required(s, Secret);
        if (secret.Length != 64 || !secret.All(Uri.IsHexDigit))
            throw new SettingsException($"{Secret}: must be exactly 64 hexadecimal characters (got {secret.Length} characters{(secret.All(Uri.IsHexDigit) ? "" : ", not all hex")})");

        string control = Required(s, ControlPlane);
        if (!Uri.TryCreate(control, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https") || uri.Host.Length == 0)
            throw new SettingsException($"{ControlPlane}: \"{control}\" is not an http or https URL");

        string metadata = s.Get(MetadataAddr) ?? DefaultMetadataAddr;
        if (!IsHostPort(metadata))
            throw new SettingsException($"{MetadataAddr}: \"{metadata}\" is not host:port");

        if (!extras.Any(f => f.Destination == BinaryPath))
            throw new SettingsException($"{Enabled}: the supervisor is enabled but {BinaryPath} is not among {ContainerSettings.ExtrasFiles}");

        return new SupervisorConfig { WorkspaceId = workspace, Secret = secret, ControlPlane = control, MetadataAddr = metadata };
    }

    private static string Required(ContainerSettings s, string key) =>
        s.Get(key) is { Length: > 0 } v ? v : throw new SettingsException($"{key}: required when {Enabled}=true, but missing");

    private static bool IsHostPort(string value)
    {
        int colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1) return false;
        string host = value[..colon], port = value[(colon + 1)..];
        if (!ushort.TryParse(port, out var p) || p == 0) return false;
        if (host.StartsWith('[') && host.EndsWith(']')) return IPAddress.TryParse(host[1..^1], out _);
        return Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4;
    }
}
