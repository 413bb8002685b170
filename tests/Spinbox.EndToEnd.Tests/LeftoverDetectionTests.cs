namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// The leftover check must be able to fail: while a container runs, it has to see the container's shim
/// process, rootfs mount, bundle dir and shim socket (for spinbox: its VM state dir and its own
/// socket too); once the container is removed, none of them.
/// </summary>
[Collection(ContainerdCollection.Name)]
public sealed class LeftoverDetectionTests(ContainerdInstances instances)
{
    [SkippableTheory, MemberData(nameof(Runtimes.All), MemberType = typeof(Runtimes))]
    public async Task Sees_every_trace_of_a_running_container_and_none_after_removal(string containerd, string runtime)
    {
        Runtimes.SkipUnlessAvailable(runtime);
        var instance = await instances.Get(containerd);
        var id = ContainerRun.NewId(containerd, runtime, "detect");

        var start = await instance.RunCtr(["run", "-d", "--runtime", Runtimes.RuntimeName(runtime), ContainerRun.Busybox, id, "sleep", "120"]);
        Assert.True(start.ExitCode == 0, start.Describe());
        try
        {
            var found = Leftovers.Find(instance, id);
            var all = string.Join("; ", found);
            Assert.True(found.Exists(f => f.StartsWith("mount ") && f.Contains(" overlay ")), all);
            Assert.True(found.Exists(f => f.StartsWith("state entry ") && f.EndsWith(Path.Combine(instance.TaskStateDir, id))), all);
            if (runtime == Runtimes.Runc)
            {
                Assert.True(found.Exists(f => f.StartsWith("process ") && f.Contains("containerd-shim-runc-v2")), all);
                Assert.True(found.Exists(f => f.StartsWith("shim socket ")), all);
            }
            else
            {
                Assert.True(found.Exists(f => f.StartsWith("process ") && f.Contains(Runtimes.ShimBinary)), all);
                Assert.True(found.Exists(f => f.StartsWith("spinbox state entry ")), all);
                Assert.True(found.Exists(f => f.StartsWith("spinbox shim socket ")), all);
            }
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
