using System.Text.Json;
using System.Text.Json.Serialization;

namespace Spinbox.Shim.Config;

/// <summary>
/// The shim's config file: /etc/spinbox/config.json, or the file named by $SPINBOX_CONFIG.
/// Every field has a default, so a missing file means "all defaults".
/// </summary>
public sealed class SpinboxConfig
{
    public const string DefaultPath = "/etc/spinbox/config.json";
    public const string DefaultShareDir = "/usr/local/share/spinbox";

    [JsonPropertyName("kernel")] public string Kernel { get; set; } = Path.Combine(DefaultShareDir, "vmlinux");
    [JsonPropertyName("kernel_bzimage")] public string KernelBzImage { get; set; } = Path.Combine(DefaultShareDir, "bzImage");
    [JsonPropertyName("initrd")] public string Initrd { get; set; } = Path.Combine(DefaultShareDir, "initramfs.cpio.gz");
    [JsonPropertyName("qemu")] public string Qemu { get; set; } = "qemu-system-x86_64";
    /// <summary>auto | kvm | tcg.</summary>
    [JsonPropertyName("backend")] public string Backend { get; set; } = "auto";
    [JsonPropertyName("vcpus")] public int Vcpus { get; set; } = 1;
    [JsonPropertyName("memory_mib")] public int MemoryMib { get; set; } = 512;
    /// <summary>Appended to the guest kernel cmdline (e.g. spin.extras_force=1).</summary>
    [JsonPropertyName("kernel_args")] public string KernelArgs { get; set; } = "";
    /// <summary>Per-container VM console and supervisor logs: LogDir/NAMESPACE/ID/{console,supervisor}.log.</summary>
    [JsonPropertyName("log_dir")] public string LogDir { get; set; } = "/var/log/spinbox";
    /// <summary>Per-container runtime state (sockets, disk images); removed at delete.</summary>
    [JsonPropertyName("state_dir")] public string StateDir { get; set; } = "/run/spinbox";
    /// <summary>Content-addressed caches that outlive containers (extras tars).</summary>
    [JsonPropertyName("cache_dir")] public string CacheDir { get; set; } = "/var/lib/spinbox";
    [JsonPropertyName("agent_timeout_seconds")] public int AgentTimeoutSeconds { get; set; } = 60;

    public static SpinboxConfig Load()
    {
        string path = Environment.GetEnvironmentVariable("SPINBOX_CONFIG") is { Length: > 0 } p ? p : DefaultPath;
        if (!File.Exists(path)) return new SpinboxConfig();
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), ConfigJsonContext.Default.SpinboxConfig)
                   ?? throw new InvalidDataException("empty document");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"spinbox config {path}: {e.Message}", e);
        }
    }
}

[JsonSerializable(typeof(SpinboxConfig))]
[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true)]
internal sealed partial class ConfigJsonContext : JsonSerializerContext;
