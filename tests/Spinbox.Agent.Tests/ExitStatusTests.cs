using Spinbox.GuestAgent.Processes;

namespace Spinbox.Agent.Tests;

public class ExitStatusTests
{
    [Theory]
    [InlineData(0x0000, 0u)]      // exit(0)
    [InlineData(0x0300, 3u)]      // exit(3)
    [InlineData(0xff00, 255u)]    // exit(255)
    [InlineData(0x0009, 137u)]    // killed by SIGKILL
    [InlineData(0x000f, 143u)]    // killed by SIGTERM
    [InlineData(0x0086, 134u)]    // SIGABRT with core dump flag
    public void MapsWaitStatusLikeContainerd(int raw, uint expected) =>
        Assert.Equal(expected, ExitStatus.FromWaitStatus(raw));
}
