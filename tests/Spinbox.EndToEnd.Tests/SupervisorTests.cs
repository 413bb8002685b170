using System.Globalization;
using System.Text.RegularExpressions;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// The integration doc's complete supervisor example with a test supervisor (a shell script) in place of
/// the real one: what the supervisor gets, that its secret shows up nowhere else, and that it is restarted.
/// </summary>
[Collection(ContainerdCollection.Name)]
public sealed class SupervisorTests(ContainerdInstances instances)
{
    private const string SupervisorPath = "/run/spin-stack/spin-supervisor";
    private const string WorkspaceId = "550e8400-e29b-41d4-a716-446655440000";
    private const string ControlPlane = "https://control.example.com:443";

    /// <summary>Prints what it was given; reads the secret's length only, so its log never holds the secret.</summary>
    private const string RecordingSupervisor = """
        f="$SPIN_SUPERVISOR_CONFIG"
        echo "test-supervisor started at $(cut -d' ' -f1 /proc/uptime)"
        echo "config_path=$f"
        echo "config_mode=$(stat -c %a "$f")"
        echo "workspace_id=$(sed -n 's/^SPIN_WORKSPACE_ID=//p' "$f")"
        echo "control_plane=$(sed -n 's/^SPIN_CONTROL_PLANE=//p' "$f")"
        echo "metadata_addr=$(sed -n 's/^SPIN_METADATA_ADDR=//p' "$f")"
        echo "secret_length=$(sed -n 's/^SPIN_SECRET=//p' "$f" | tr -d '\n' | wc -c)"
        echo "--- env"; env; echo "--- end env"
        exec sleep 600
        """;

    public static TheoryData<string> Versions() => new(ContainerdInstances.Versions);

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task Complete_example_gives_the_supervisor_its_config_and_the_secret_goes_nowhere_else(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        var paths = SpinboxHostPaths.Load();
        using var files = new HostFiles();
        var supervisor = files.Script("spin-supervisor", RecordingSupervisor);
        // fresh per run, so finding it in a shared log can only mean this run leaked it
        var secret = Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "supervisor");
        var labels = SupervisorLabels(supervisor, secret);

        using var watch = new HostProcessWatch(secret, except: instance.CtrPath); // ctr is handed it in its argv
        // the supervisor starts before the container; the sleep gives the log mirror time to copy its output
        var run = await SpinboxCtr.RunRmAsync(instance, id, labels, ["sh", "-c", "cat /proc/cmdline; env; sleep 2"]);
        var hostProcessesHolding = await watch.StopAsync();

        Assert.True(run.ExitCode == 0, run.Describe());
        Assert.Contains("console=ttyS0", run.Stdout);                 // the container did read the VM's cmdline
        Assert.Contains("PATH=", run.Stdout);                          // and printed its environment
        Assert.DoesNotContain(secret, run.Stdout);

        var supervisorLog = await File.ReadAllTextAsync(paths.SupervisorLog(id));
        var lines = supervisorLog.Split('\n');
        Assert.Contains("config_path=/run/spin-stack/supervisor.conf", lines);
        Assert.Contains("config_mode=600", lines);
        Assert.Contains($"workspace_id={WorkspaceId}", lines);
        Assert.Contains($"control_plane={ControlPlane}", lines);
        Assert.Contains("metadata_addr=169.254.169.254:80", lines);
        Assert.Contains("secret_length=64", lines);                    // the secret is in its config file
        var env = lines.SkipWhile(l => l != "--- env").Skip(1).TakeWhile(l => l != "--- end env").ToList();
        Assert.Contains("SPIN_SUPERVISOR_CONFIG=/run/spin-stack/supervisor.conf", env);

        Assert.DoesNotContain(secret, supervisorLog);
        Assert.DoesNotContain(secret, await File.ReadAllTextAsync(paths.ConsoleLog(id)));
        Assert.DoesNotContain(secret, ShimLogLines.ReadAll(instance));
        Assert.True(hostProcessesHolding.Count == 0, $"host processes had the secret in argv or environment: {string.Join("; ", hostProcessesHolding)}");
    }

    [SkippableFact]
    public async Task A_supervisor_that_exits_is_started_again()
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        // the restart loop is the guest agent's: one containerd version shows it
        const string containerd = "2.1";
        var instance = await instances.Get(containerd);
        using var files = new HostFiles();
        var supervisor = files.Script("spin-supervisor", "echo \"test-supervisor started at $(cut -d' ' -f1 /proc/uptime)\"; exit 3");
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "supervisor-restart");
        var secret = Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N");

        // restarts come after 1 s, then 2 s, 4 s: about 3 starts in the 5 s the container lives
        var run = await SpinboxCtr.RunRmAsync(instance, id, SupervisorLabels(supervisor, secret), ["sleep", "5"]);

        Assert.True(run.ExitCode == 0, run.Describe());
        var supervisorLog = await File.ReadAllTextAsync(SpinboxHostPaths.Load().SupervisorLog(id));
        var starts = Regex.Matches(supervisorLog, @"^test-supervisor started at ([0-9.]+)$", RegexOptions.Multiline)
            .Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.True(starts.Count >= 2, $"the supervisor started {starts.Count} times: {supervisorLog}");
        Assert.True(starts[1] - starts[0] is > 0 and < 10, $"second start {starts[1] - starts[0]:F2} s after the first (guest uptimes {string.Join(", ", starts)})");
        var console = await File.ReadAllTextAsync(SpinboxHostPaths.Load().ConsoleLog(id));
        Assert.Contains("supervisor exited with status", console);
    }

    private static string[] SupervisorLabels(string supervisorSource, string secret) => SpinboxCtr.Labels(
        (ExtrasTests.ExtrasKey, HostFiles.ExtrasJson((SupervisorPath, supervisorSource, 493))),
        ("io.spin.supervisor.enabled", "true"),
        ("io.spin.supervisor.workspace_id", WorkspaceId),
        ("io.spin.supervisor.secret", secret),
        ("io.spin.supervisor.control_plane", ControlPlane));
}
