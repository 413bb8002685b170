using System.Text.Json.Nodes;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// Settings that exist only as containerd container labels (what the Go client's WithContainerLabels
/// gives: the spec has no annotation), read by the shim from containerd's API; and an OCI annotation
/// winning over a label with the same key.
/// </summary>
[Collection(ContainerdCollection.Name)]
public sealed class LabelTests(ContainerdInstances instances)
{
    private const string ExtrasKey = ExtrasTests.ExtrasKey;

    public static TheoryData<string> Versions() => new(ContainerdInstances.Versions);

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task Extras_given_only_as_a_container_label_are_injected(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        using var files = new HostFiles();
        var myapp = files.Script("myapp", $"echo \"labelled {files.Token}\"; stat -c %a \"$0\"");
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "label-only");

        var run = await SpinboxCtr.CreateLabelStartAsync(instance, id, [],
            [(ExtrasKey, HostFiles.ExtrasJson(("/usr/local/bin/myapp", myapp, 448)))], ["/usr/local/bin/myapp"],
            beforeStart: async () =>
            {
                var (labels, annotations) = await LabelsAndAnnotationsAsync(instance, id);
                Assert.True(labels.ContainsKey(ExtrasKey), $"ctr containers label did not set {ExtrasKey}");
                Assert.False(annotations.ContainsKey(ExtrasKey), $"the spec has an annotation {ExtrasKey}: not a labels-only container");
            });

        Assert.True(run.ExitCode == 0, run.Describe());
        Assert.Equal($"labelled {files.Token}\n700\n", run.Stdout);
    }

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task An_annotation_wins_over_a_label_with_the_same_key(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        using var files = new HostFiles();
        var fromAnnotation = files.Script("from-annotation", "echo from the annotation");
        var fromLabel = files.Script("from-label", "echo from the label");
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "annotation-wins");
        var annotation = HostFiles.ExtrasJson(("/usr/local/bin/which", fromAnnotation, 493));
        var label = HostFiles.ExtrasJson(("/usr/local/bin/which", fromLabel, 493));

        // `create --label` would copy the label into the spec too; --annotation sets the spec only,
        // and `ctr containers label` afterwards changes the container record only
        var run = await SpinboxCtr.CreateLabelStartAsync(instance, id, ["--annotation", $"{ExtrasKey}={annotation}"],
            [(ExtrasKey, label)], ["/usr/local/bin/which"],
            beforeStart: async () =>
            {
                var (labels, annotations) = await LabelsAndAnnotationsAsync(instance, id);
                Assert.Equal(label, labels.GetValueOrDefault(ExtrasKey));
                Assert.Equal(annotation, annotations.GetValueOrDefault(ExtrasKey));
            });

        Assert.True(run.ExitCode == 0, run.Describe());
        Assert.Equal("from the annotation\n", run.Stdout);
    }

    /// <summary>The container's labels and its spec's annotations, from `ctr containers info`.</summary>
    private static async Task<(Dictionary<string, string> Labels, Dictionary<string, string> Annotations)> LabelsAndAnnotationsAsync(
        PrivateContainerd instance, string id)
    {
        var info = await instance.Ctr("containers", "info", id);
        Assert.True(info.ExitCode == 0, $"ctr containers info: {info.Describe()}");
        var root = JsonNode.Parse(info.Stdout);
        return (Strings(root?["Labels"]), Strings(root?["Spec"]?["annotations"]));
    }

    private static Dictionary<string, string> Strings(JsonNode? node) =>
        node is JsonObject o
            ? o.Where(p => p.Value is JsonValue).ToDictionary(p => p.Key, p => p.Value!.GetValue<string>())
            : new Dictionary<string, string>();
}
