namespace Spinbox.GuestAgent.Supervisor;

/// <summary>Delay before restarting a supervisor that exited: 1 s doubling to 30 s, back to 1 s after
/// a run long enough to count as healthy.</summary>
internal static class RestartBackoff
{
    public static readonly TimeSpan Initial = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Max = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan HealthyRun = TimeSpan.FromSeconds(60);

    /// <summary>The delay to use now, given the previous delay and how long the last run lasted.</summary>
    public static TimeSpan Next(TimeSpan? previous, TimeSpan lastRun)
    {
        if (previous is null || lastRun >= HealthyRun)
        {
            return Initial;
        }

        var doubled = previous.Value * 2;
        return doubled > Max ? Max : doubled;
    }
}
