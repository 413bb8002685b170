namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// ctr flows for the spinbox runtime with its io.spin.* settings: `ctr run --rm` with labels, and the
/// labels-only flow (create, label, start, remove) that the Go client's WithContainerLabels amounts to.
/// Each ends by checking that nothing of the container is left, neither containerd's traces nor the shim's.
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

    public static async Task AssertNoLeftoversAsync(PrivateContainerd containerd, string id)
    {
        await Leftovers.AssertNoneAsync(containerd, id);
        // Leftovers waited out the shim's exit already; the shim removes its own state before it exits
        var shim = SpinboxHostPaths.Load().Leftovers(id);
        Assert.True(shim.Count == 0, $"container {id} left behind: {string.Join("; ", shim)}");
    }
}
