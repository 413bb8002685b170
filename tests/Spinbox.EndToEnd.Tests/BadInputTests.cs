namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// Each wrong io.spin.* value fails `ctr run` before a VM boots, with an error naming the annotation and
/// the entry or problem, never echoing the secret, and leaves nothing behind: no container, snapshot,
/// shim, mount or state, and no extras tar built for it.
/// </summary>
[Collection(ContainerdCollection.Name)]
public sealed class BadInputTests(ContainerdInstances instances)
{
    private const string Extras = ExtrasTests.ExtrasKey;
    private const string Enabled = "io.spin.supervisor.enabled";
    private const string WorkspaceIdKey = "io.spin.supervisor.workspace_id";
    private const string SecretKey = "io.spin.supervisor.secret";
    private const string ControlPlaneKey = "io.spin.supervisor.control_plane";
    private const string MetadataKey = "io.spin.supervisor.metadata_addr";
    private const string Supervisor = "/run/spin-stack/spin-supervisor";
    private const string Dest = "/usr/local/bin/myapp";

    private static readonly string[] Cases =
    [
        "invalid-json", "relative-destination", "relative-source", "missing-source", "source-is-a-directory", "mode-4096",
        "enabled-yes", "missing-workspace-id", "workspace-id-not-a-uuid", "secret-of-63-chars", "control-plane-ftp",
        "metadata-addr-without-port", "enabled-without-the-binary",
    ];

    public static TheoryData<string, string> All()
    {
        var data = new TheoryData<string, string>();
        foreach (var version in ContainerdInstances.Versions)
            foreach (var name in Cases)
                data.Add(version, name);
        return data;
    }

    [SkippableTheory, MemberData(nameof(All))]
    public async Task Fails_naming_the_setting_and_leaves_nothing(string containerd, string badInput)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        using var files = new HostFiles();
        var secret = Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
        var (labels, expected) = Case(badInput, files, secret);
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "bad");

        var run = await SpinboxCtr.RunRmAsync(instance, id, SpinboxCtr.Labels(labels), ["/bin/true"]);

        Assert.True(run.ExitCode != 0, $"{badInput} was accepted: {run.Describe()}");
        foreach (var fragment in expected)
            Assert.True(run.Stderr.Contains(fragment), $"{badInput}: stderr does not name '{fragment}': {run.Stderr}");
        Assert.DoesNotContain(secret.Substring(1, 32), run.Stderr); // in the full secret and the 63-character one
        Assert.Null(ShimLogLines.ExtrasTar(instance, id));
    }

    /// <returns>The labels to run with and the fragments the error must contain.</returns>
    private static ((string, string)[] Labels, string[] Expected) Case(string name, HostFiles files, string secret)
    {
        var app = files.Script("myapp", "echo never runs");
        var supervisor = files.Script("spin-supervisor", "sleep 600");
        string Entry(string dest) => $"entry \"{dest}\"";
        (string, string) ExtrasOf(string dest, string source, int mode = 493) => (Extras, HostFiles.ExtrasJson((dest, source, mode)));
        (string, string)[] SupervisorWith(params (string Key, string? Value)[] overrides)
        {
            var values = new Dictionary<string, string?>
            {
                [Enabled] = "true",
                [WorkspaceIdKey] = "550e8400-e29b-41d4-a716-446655440000",
                [SecretKey] = secret,
                [ControlPlaneKey] = "https://control.example.com:443",
            };
            foreach (var (k, v) in overrides) values[k] = v;
            return [ExtrasOf(Supervisor, supervisor), .. values.Where(p => p.Value is not null).Select(p => (p.Key, p.Value!))];
        }

        return name switch
        {
            "invalid-json" => ([(Extras, $"{{\"{Dest}\":{{\"source\":")], [Extras, "invalid JSON"]),
            "relative-destination" => ([ExtrasOf("usr/local/bin/myapp", app)],
                [Extras, Entry("usr/local/bin/myapp"), "destination must be an absolute path"]),
            "relative-source" => ([ExtrasOf(Dest, "bin/myapp")], [Extras, Entry(Dest), "source \"bin/myapp\" must be an absolute path"]),
            "missing-source" => ([ExtrasOf(Dest, Path.Combine(files.Dir, "no-such"))],
                [Extras, Entry(Dest), $"source \"{Path.Combine(files.Dir, "no-such")}\" does not exist"]),
            "source-is-a-directory" => ([ExtrasOf(Dest, files.Dir)], [Extras, Entry(Dest), $"source \"{files.Dir}\" is a directory"]),
            "mode-4096" => ([ExtrasOf(Dest, app, 4096)], [Extras, Entry(Dest), "mode 4096 is outside 0..4095"]),
            "enabled-yes" => (SupervisorWith((Enabled, "yes")), [Enabled, "\"yes\""]),
            "missing-workspace-id" => (SupervisorWith((WorkspaceIdKey, null)), [WorkspaceIdKey, "missing"]),
            "workspace-id-not-a-uuid" => (SupervisorWith((WorkspaceIdKey, "workspace-1")), [WorkspaceIdKey, "\"workspace-1\" is not a UUID"]),
            "secret-of-63-chars" => (SupervisorWith((SecretKey, secret[1..])), [SecretKey, "64 hexadecimal characters", "got 63"]),
            "control-plane-ftp" => (SupervisorWith((ControlPlaneKey, "ftp://control.example.com")),
                [ControlPlaneKey, "\"ftp://control.example.com\" is not an http or https URL"]),
            "metadata-addr-without-port" => (SupervisorWith((MetadataKey, "169.254.169.254")), [MetadataKey, "\"169.254.169.254\" is not host:port"]),
            "enabled-without-the-binary" => ([.. SupervisorWith().Where(l => l.Item1 != Extras), ExtrasOf(Dest, app)],
                [Enabled, Supervisor, "is not among " + Extras]),
            _ => throw new ArgumentException($"no bad-input case '{name}'", nameof(name)),
        };
    }
}
