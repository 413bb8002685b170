using System.Text.Json.Nodes;
using Spinbox.Shim.Service;

namespace Spinbox.Shim.Rootfs;

/// <summary>
/// Checks on the host that the container's command exists in its rootfs, so a typo fails in milliseconds
/// instead of after a VM boot. Symlinks are resolved inside the rootfs, never against the host's /.
/// Files that will be injected into the container (io.spin.extras.files) count as present.
/// </summary>
public static class ExecutableLookup
{
    private const int MaxLinks = 40;

    public static void RequireCommand(JsonNode? spec, string rootfs, IReadOnlySet<string>? injected = null)
    {
        if (spec?["process"]?["args"] is not JsonArray { Count: > 0 } args || args[0]?.GetValue<string>() is not { Length: > 0 } command)
            throw new SettingsException("process.args: the OCI spec has no command to run");
        string cwd = spec["process"]?["cwd"]?.GetValue<string>() ?? "/";
        if (command.Contains('/'))
        {
            string path = command.StartsWith('/') ? command : Path.Combine(cwd, command);
            if (injected?.Contains(Path.GetFullPath(path)) != true && ResolveFile(rootfs, path) is null)
                throw new SettingsException($"process.args[0]: executable file `{command}` not found in the container's rootfs");
            return;
        }
        string pathVar = EnvPath(spec) ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var dir in pathVar.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir.StartsWith('/') ? dir : Path.Combine(cwd, dir), command);
            if (injected?.Contains(Path.GetFullPath(candidate)) == true || ResolveFile(rootfs, candidate) is not null) return;
        }
        throw new SettingsException($"process.args[0]: executable file `{command}` not found in $PATH ({pathVar}) of the container's rootfs");
    }

    private static string? EnvPath(JsonNode spec)
    {
        if (spec["process"]?["env"] is not JsonArray env) return null;
        foreach (var e in env)
            if (e?.GetValue<string>() is { } s && s.StartsWith("PATH=")) return s[5..];
        return null;
    }

    /// <summary>The host path of a regular file at guest path <paramref name="guestPath"/>, or null.</summary>
    internal static string? ResolveFile(string rootfs, string guestPath)
    {
        var parts = new Stack<string>(guestPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var resolved = new List<string>();
        int links = 0;
        while (parts.Count > 0)
        {
            string part = parts.Pop();
            if (part == ".") continue;
            if (part == "..") { if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1); continue; }
            string host = Path.Combine(rootfs, string.Join('/', resolved), part);
            var info = new FileInfo(host);
            if (info.LinkTarget is { } target)
            {
                if (++links > MaxLinks) return null;
                if (target.StartsWith('/')) resolved.Clear();
                foreach (var p in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) parts.Push(p);
                continue;
            }
            if (!info.Exists && !Directory.Exists(host)) return null;
            resolved.Add(part);
        }
        string final = Path.Combine(rootfs, string.Join('/', resolved));
        return File.Exists(final) ? final : null;
    }
}
