namespace Spinbox.EndToEnd.Tests;

/// <summary>`ctr run --rm` of one container, with the stdin handling that ctr needs.</summary>
public static class ContainerRun
{
    public const string Busybox = "docker.io/library/busybox:test";
    public const string Debian = "docker.io/library/debian:test";

    /// <summary>A container id unique to this run, readable in a process list: e2e-21-runc-hello-1a2b3c4d.</summary>
    public static string NewId(string series, string runtime, string test) =>
        $"e2e-{series.Replace(".", "")}-{runtime}-{test}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>
    /// Runs `ctr run --rm --runtime R IMAGE ID COMMAND...`. With stdin, ctr forwards EOF (CloseIO) only
    /// once its task exists: if stdin ends before that, ctr loses the EOF and a `cat` never exits
    /// (a ctr race, seen with 1.7 and 2.1 alike). So stdin is closed only after the task is RUNNING.
    /// </summary>
    public static Task<ProcessResult> RunRm(PrivateContainerd containerd, string runtime, string image, string id,
        string[] command, string? stdin = null, TimeSpan? timeout = null)
    {
        string[] args = ["run", "--rm", "--runtime", Runtimes.RuntimeName(runtime), .. Runtimes.RunFlags(runtime), image, id, .. command];
        return containerd.RunCtr(args, stdin, timeout,
            stdin is null ? null : ct => WaitUntilTaskStartedAsync(containerd, id, ct));
    }

    private static async Task WaitUntilTaskStartedAsync(PrivateContainerd containerd, string id, CancellationToken ct)
    {
        while (true)
        {
            var tasks = await containerd.Ctr("tasks", "list");
            foreach (var line in tasks.Stdout.Split('\n'))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length >= 3 && fields[0] == id && fields[2] is "RUNNING" or "STOPPED") return;
            }
            await Task.Delay(100, ct);
        }
    }
}
