namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// ctr flows for the spinbox runtime with its io.spin.* settings: `ctr run --rm` with labels, and the
/// labels-only flow (create, label, start, remove) that the Go client's WithContainerLabels amounts to.
/// Each ends with the harness's leftover check.
/// </summary>
public static class SpinboxCtr
{
    public static string Runtime => Runtimes.RuntimeName(Runtimes.Spinbox);

    /// <summary>["--label", "k=v", ...] for ctr.</summary>
    public static string[] Labels(params (string Key, string Value)[] labels) =>
        labels.SelectMany(l => new[] { "--label", $"{l.Key}={l.Value}" }).ToArray();

    /// <summary>`ctr run --rm --runtime spinbox OPTIONS busybox ID COMMAND...`, then the leftover checks.</summary>
    public static async Task<ProcessResult> RunRmAsync(PrivateContainerd containerd, string id, string[] options,
        string[] command, TimeSpan? timeout = null)
    {
        string[] args = ["run", "--rm", "--runtime", Runtime, .. options, ContainerRun.Busybox, id, .. command];
        var run = await containerd.RunCtr(args, timeout: timeout);
        Assert.False(run.TimedOut, $"ctr run {id} timed out: {run.Describe()} (containerd log: {containerd.LogPath})");
        await AssertNoLeftoversAsync(containerd, id);
        return run;
    }

    /// <summary>
    /// `ctr c create` (with <paramref name="createOptions"/>, e.g. --annotation), then `ctr c label` for each
    /// label, so the labels exist only in containerd's container record, then <paramref name="beforeStart"/>, then `ctr t start` (attached: it
    /// waits for the exit and deletes the task), then `ctr c rm` and the leftover checks.
    /// </summary>
    public static async Task<ProcessResult> CreateLabelStartAsync(PrivateContainerd containerd, string id,
        string[] createOptions, (string Key, string Value)[] labels, string[] command, Func<Task>? beforeStart = null)
    {
        ProcessResult start;
        var create = await containerd.Ctr(["containers", "create", "--runtime", Runtime, .. createOptions, ContainerRun.Busybox, id, .. command]);
        Assert.True(create.ExitCode == 0, $"ctr containers create: {create.Describe()}");
        try
        {
            var label = await containerd.Ctr(["containers", "label", id, .. labels.Select(l => $"{l.Key}={l.Value}")]);
            Assert.True(label.ExitCode == 0, $"ctr containers label: {label.Describe()}");
            if (beforeStart is not null) await beforeStart();
            start = await containerd.Ctr("tasks", "start", id);
            Assert.False(start.TimedOut, $"ctr tasks start {id} timed out: {start.Describe()}");
        }
        finally
        {
            // a task left by a failed start would keep the container from being removed
            await containerd.Ctr("tasks", "kill", "-s", "SIGKILL", id);
            await containerd.Ctr("tasks", "delete", "--force", id);
            await containerd.Ctr("containers", "delete", id);
        }
        await AssertNoLeftoversAsync(containerd, id);
        return start;
    }

    /// <summary>The harness's check: containerd's traces and the spinbox shim's state dir and socket.</summary>
    public static Task AssertNoLeftoversAsync(PrivateContainerd containerd, string id) => Leftovers.AssertNoneAsync(containerd, id);
}
