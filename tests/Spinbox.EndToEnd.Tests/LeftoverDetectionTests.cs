namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// The leftover check must be able to fail: while a runc container runs, it has to see the container's
/// shim process, rootfs mount, bundle dir and shim socket; once the container is removed, none of them.
/// </summary>
[Collection(ContainerdCollection.Name)]
public sealed class LeftoverDetectionTests(ContainerdInstances instances)
{
    public static TheoryData<string> Versions() => new(ContainerdInstances.Versions);

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task Sees_every_trace_of_a_running_container_and_none_after_removal(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Runc);
        var instance = await instances.Get(containerd);
        var id = ContainerRun.NewId(containerd, Runtimes.Runc, "detect");

        var start = await instance.Ctr("run", "-d", "--runtime", Runtimes.RuntimeName(Runtimes.Runc), ContainerRun.Busybox, id, "sleep", "60");
        Assert.True(start.ExitCode == 0, start.Describe());
        try
        {
            var found = Leftovers.Find(instance, id);
            Assert.Contains(found, f => f.StartsWith("process ") && f.Contains("containerd-shim-runc-v2"));
            Assert.Contains(found, f => f.StartsWith("mount ") && f.Contains(" overlay "));
            Assert.Contains(found, f => f.StartsWith("state entry ") && f.EndsWith(Path.Combine(instance.TaskStateDir, id)));
            Assert.Contains(found, f => f.StartsWith("shim socket "));
        }
        finally
        {
            await instance.Ctr("tasks", "kill", "-s", "SIGKILL", id);
            await WaitStoppedAsync(instance, id);
            await instance.Ctr("tasks", "delete", id);
            await instance.Ctr("containers", "delete", id);
        }

        await Leftovers.AssertNoneAsync(instance, id);
    }

    private static async Task WaitStoppedAsync(PrivateContainerd instance, string id)
    {
        for (var i = 0; i < 100; i++)
        {
            var tasks = await instance.Ctr("tasks", "list");
            if (!tasks.Stdout.Split('\n').Any(l => l.StartsWith(id + " ") && l.Contains("RUNNING"))) return;
            await Task.Delay(100);
        }
    }
}
