using System.Globalization;
using Spinbox.Agent.V1;

namespace Spinbox.GuestAgent.Service;

/// <summary>What Hello reports: agent version, kernel release and boot-to-ready time.</summary>
internal static class HelloInfo
{
    public const string AgentVersion = "0.1.0";

    /// <summary>Built when the agent channel connects, so boot_to_ready_ms is that moment's uptime.</summary>
    public static HelloResponse Capture() => new()
    {
        AgentVersion = AgentVersion,
        KernelRelease = ReadTrimmed("/proc/sys/kernel/osrelease"),
        BootToReadyMs = UptimeMs(ReadTrimmed("/proc/uptime")),
    };

    /// <summary>Milliseconds from /proc/uptime text ("12.34 5.67"); 0 when unreadable.</summary>
    public static ulong UptimeMs(string procUptime)
    {
        string first = procUptime.Split(' ', 2)[0];
        return double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds >= 0
            ? (ulong)Math.Round(seconds * 1000)
            : 0;
    }

    private static string ReadTrimmed(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }
}
