using System.Text.Json;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// Where the spinbox shim keeps things on the host, read from the same config file the shim reads
/// (SPINBOX_CONFIG, passed to containerd by scripts/private-containerd.sh), with the shim's defaults
/// for fields the file leaves out (src/Shim/Config/SpinboxConfig.cs).
/// </summary>
public sealed class SpinboxHostPaths
{
    private SpinboxHostPaths(string logDir, string cacheDir)
    {
        LogDir = logDir;
        CacheDir = cacheDir;
    }

    public string LogDir { get; }
    public string CacheDir { get; }

    /// <summary>Reads SPINBOX_CONFIG; call after <see cref="Runtimes.SkipUnlessAvailable"/> (which checks it exists).</summary>
    public static SpinboxHostPaths Load()
    {
        var path = Environment.GetEnvironmentVariable("SPINBOX_CONFIG");
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
            throw new InvalidOperationException($"SPINBOX_CONFIG ('{path}') names no file");
        using var doc = JsonDocument.Parse(File.ReadAllText(path),
            new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        string Field(string name, string fallback) =>
            doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : fallback;
        return new SpinboxHostPaths(Field("log_dir", "/var/log/spinbox"), Field("cache_dir", "/var/lib/spinbox"));
    }

    public string ConsoleLog(string id) => Path.Combine(LogDir, PrivateContainerd.Namespace, id, "console.log");
    public string SupervisorLog(string id) => Path.Combine(LogDir, PrivateContainerd.Namespace, id, "supervisor.log");
    public string ExtrasTar(string sha256) => Path.Combine(CacheDir, "extras", sha256 + ".tar");
}
