using Spinbox.GuestAgent.Processes;

namespace Spinbox.Agent.Tests;

/// <summary>The reaper's bookkeeping, driven through Dispatch (its thread is not started on the host:
/// waitpid(-1) would reap the test runner's own children).</summary>
public class ChildReaperTests
{
    [Fact]
    public async Task StatusReapedBeforeTheWaiterIsKeptForIt()
    {
        var reaper = new ChildReaper();
        long since = reaper.Sequence;
        reaper.Dispatch(4242, 3 << 8);

        var exit = await reaper.Adopt(4242, since).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(4242, exit.Pid);
        Assert.Equal(3u, exit.ExitStatus);
    }

    [Fact]
    public async Task StaleStatusOfAReusedPidIsNotTakenForTheNewProcess()
    {
        var reaper = new ChildReaper();
        reaper.Dispatch(77, 1 << 8);          // an earlier process with pid 77
        long since = reaper.Sequence;

        var wait = reaper.Adopt(77, since);
        Assert.False(wait.IsCompleted);

        reaper.Dispatch(77, 9);               // the adopted process, killed
        var exit = await wait.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(137u, exit.ExitStatus);
    }

    [Fact]
    public async Task SpawnedChildGetsItsOwnStatusNotAStaleOne()
    {
        var reaper = new ChildReaper();
        reaper.Dispatch(500, 7 << 8);

        var (pid, exit) = reaper.SpawnWatched(() => 500);
        Assert.Equal(500, pid);
        Assert.False(exit.IsCompleted);

        reaper.Dispatch(500, 0);
        Assert.Equal(0u, (await exit.WaitAsync(TimeSpan.FromSeconds(5))).ExitStatus);
    }

    [Fact]
    public async Task TwoWaitersOfOnePidSeeTheSameExit()
    {
        var reaper = new ChildReaper();
        var first = reaper.Adopt(10, reaper.Sequence);
        var second = reaper.Adopt(10, reaper.Sequence);
        reaper.Dispatch(10, 2 << 8);

        Assert.Equal(2u, (await first.WaitAsync(TimeSpan.FromSeconds(5))).ExitStatus);
        Assert.Equal(2u, (await second.WaitAsync(TimeSpan.FromSeconds(5))).ExitStatus);
    }
}
