using System.Text;

namespace Spinbox.EndToEnd.Tests;

/// <summary>What a finished (or timed-out) child process left: exit code, raw stdout bytes, stderr text.</summary>
public sealed record ProcessResult(int ExitCode, byte[] StdoutBytes, string Stderr, TimeSpan Elapsed, bool TimedOut)
{
    public string Stdout => Encoding.UTF8.GetString(StdoutBytes);

    /// <summary>One line for assertion messages: enough to see what went wrong without the whole output.</summary>
    public string Describe() =>
        $"exit {ExitCode}{(TimedOut ? " (timed out)" : "")} after {Elapsed.TotalSeconds:F2}s, " +
        $"stdout {StdoutBytes.Length} bytes: '{Clip(Stdout)}', stderr: '{Clip(Stderr)}'";

    private static string Clip(string s) => s.Length <= 400 ? s : s[..400] + "...";
}
