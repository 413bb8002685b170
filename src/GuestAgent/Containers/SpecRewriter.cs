using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spinbox.GuestAgent.Containers;

/// <summary>A spec the agent cannot run; the message names the field and the problem.</summary>
internal sealed class InvalidSpecException(string message) : Exception(message);

/// <summary>
/// Turns the OCI spec the shim received into the one crun runs in the guest: root.path points at the
/// mounted rootfs, settings that name host resources absent here are dropped or refused, and every
/// injected file is bind-mounted read-only at its own path. Security settings (seccomp,
/// capabilities, masked and read-only paths) are left exactly as given.
/// </summary>
internal static class SpecRewriter
{
    /// <summary>Injected files under this folder are for the VM only (the supervisor), never containers.</summary>
    public const string VmOnlyPrefix = "/run/spin-stack/";

    /// <summary>The newest runtime-spec version the guest's crun (Debian bookworm, 1.8) accepts.</summary>
    public const string CrunMaxOciVersion = "1.1.0";

    /// <summary>
    /// containerd 2.x writes ociVersion 1.2.x, which crun 1.8 refuses outright ("unknown version specified")
    /// although it runs such specs fine (unknown fields are ignored). Any 1.x newer than 1.1 is declared 1.1.0.
    /// </summary>
    private static void ClampOciVersion(JsonObject spec, Action<string>? note)
    {
        string version = Text(spec["ociVersion"]);
        var parts = version.Split('.', '-', '+');
        if (parts.Length >= 2 && parts[0] == "1" && int.TryParse(parts[1], out int minor) && minor > 1)
        {
            note?.Invoke($"ociVersion {version} declared as {CrunMaxOciVersion} for crun");
            spec["ociVersion"] = CrunMaxOciVersion;
        }
    }

    public static string Rewrite(ReadOnlySpan<byte> specJson, string rootfsPath, IReadOnlyList<string> injectedFiles, Func<string, bool> existsInGuest, Action<string>? note = null)
    {
        JsonObject spec = Parse(specJson);

        ClampOciVersion(spec, note);

        var root = spec["root"] as JsonObject ?? new JsonObject();
        root["path"] = rootfsPath;
        spec["root"] = root;

        if (spec["linux"] is JsonObject linux && linux["namespaces"] is JsonArray namespaces)
        {
            // A namespace "path" names a host namespace (a netns file, another pod's ipc): the
            // entry is dropped and the container shares the VM's namespace of that type.
            for (int i = namespaces.Count - 1; i >= 0; i--)
            {
                if (namespaces[i] is JsonObject ns && ns.ContainsKey("path"))
                {
                    note?.Invoke($"dropping {Text(ns["type"])} namespace path {Text(ns["path"])} (host resource)");
                    namespaces.RemoveAt(i);
                }
            }
        }

        DropMissingHooks(spec, existsInGuest, note);

        var mounts = spec["mounts"] as JsonArray ?? new JsonArray();
        spec["mounts"] = mounts;
        var destinations = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < mounts.Count; i++)
        {
            if (mounts[i] is not JsonObject mount)
            {
                throw new InvalidSpecException($"mounts[{i}]: not an object");
            }

            string destination = Text(mount["destination"]);
            destinations.Add(destination);
            if (IsBind(mount))
            {
                string source = Text(mount["source"]);
                if (!source.StartsWith('/') || !existsInGuest(source))
                {
                    throw new InvalidSpecException($"mounts[{i}] (destination {destination}): bind source {source} does not exist in the VM");
                }
            }
        }

        foreach (string file in injectedFiles)
        {
            if (file.StartsWith(VmOnlyPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            if (!destinations.Add(file))
            {
                note?.Invoke($"injected file {file}: the spec already mounts that path; keeping the spec's mount");
                continue;
            }

            mounts.Add((JsonNode)new JsonObject
            {
                ["destination"] = file,
                ["type"] = "bind",
                ["source"] = file,
                ["options"] = new JsonArray("bind", "ro"),
            });
        }

        return spec.ToJsonString();
    }

    /// <summary>True when the spec asks for a terminal (ctr run -t).</summary>
    public static bool WantsTerminal(JsonObject spec) =>
        spec["process"] is JsonObject process && process["terminal"] is JsonValue v && v.TryGetValue(out bool t) && t;

    public static JsonObject Parse(ReadOnlySpan<byte> json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidSpecException($"spec_json: not valid JSON ({e.Message})");
        }

        return node as JsonObject ?? throw new InvalidSpecException("spec_json: not a JSON object");
    }

    private static bool IsBind(JsonObject mount)
    {
        if (Text(mount["type"]) == "bind")
        {
            return true;
        }

        if (mount["options"] is JsonArray options)
        {
            foreach (var option in options)
            {
                string o = Text(option);
                if (o is "bind" or "rbind")
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>OCI hooks run host programs (nerdctl, CNI helpers); one absent from the VM would make
    /// crun fail, so it is dropped with a note.</summary>
    private static void DropMissingHooks(JsonObject spec, Func<string, bool> existsInGuest, Action<string>? note)
    {
        if (spec["hooks"] is not JsonObject hooks)
        {
            return;
        }

        foreach (var (stage, list) in hooks.ToList())
        {
            if (list is not JsonArray array)
            {
                continue;
            }

            for (int i = array.Count - 1; i >= 0; i--)
            {
                string path = array[i] is JsonObject hook ? Text(hook["path"]) : "";
                if (!path.StartsWith('/') || !existsInGuest(path))
                {
                    note?.Invoke($"dropping {stage} hook {path} (not present in the VM)");
                    array.RemoveAt(i);
                }
            }
        }
    }

    private static string Text(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue(out string? s) ? s : "";
}
