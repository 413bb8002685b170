using System.Text.Json.Nodes;

namespace Spinbox.Shim.Settings;

/// <summary>
/// The container's spinbox settings: OCI annotations (ctr --label/--annotation on containerd 2.x, CRI) merged
/// over the container's labels in containerd (the Go client's WithContainerLabels). An annotation wins.
/// </summary>
public sealed class ContainerSettings(IReadOnlyDictionary<string, string> values)
{
    public const string ExtrasFiles = "io.spin.extras.files";
    public const string VmBackend = "io.spin.vm.backend";
    public const string VmKernelArgs = "io.spin.vm.kernel_args";

    public IReadOnlyDictionary<string, string> Values { get; } = values;

    public string? Get(string key) => Values.TryGetValue(key, out var v) ? v : null;

    public static ContainerSettings Merge(JsonNode? spec, IReadOnlyDictionary<string, string> labels)
    {
        var merged = new Dictionary<string, string>(labels);
        if (spec?["annotations"] is JsonObject annotations)
            foreach (var (k, v) in annotations)
                if (v is JsonValue jv && jv.TryGetValue(out string? s)) merged[k] = s;
        return new ContainerSettings(merged);
    }
}
