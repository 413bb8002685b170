using Spinbox.GuestAgent.Interop;

namespace Spinbox.GuestAgent.Processes;

/// <summary>Stdio for a child: descriptors the child gets as 0, 1 and 2 (the agent keeps its own copies).</summary>
internal readonly record struct ChildStdio(int Stdin, int Stdout, int Stderr);

/// <summary>Starts helper programs (crun, the supervisor) and tells the reaper to watch them.</summary>
internal sealed class ProcessSpawner(ChildReaper reaper)
{
    public static readonly string[] DefaultEnvironment =
    [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
    ];

    private readonly Lazy<int> _devNull = new(() => Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC));

    public ChildReaper Reaper => reaper;

    /// <summary>/dev/null, opened once and kept by the agent.</summary>
    public int DevNull => _devNull.Value;

    public (int Pid, Task<ChildExit> Exit) Start(string path, IReadOnlyList<string> argv, ChildStdio stdio, IReadOnlyList<string>? environment = null) =>
        reaper.SpawnWatched(() => Libc.Spawn(path, argv, environment ?? DefaultEnvironment, stdio.Stdin, stdio.Stdout, stdio.Stderr, newSession: true));

    /// <summary>Runs a program to completion with stdin and stdout on /dev/null and stderr on <paramref name="stderr"/>.</summary>
    public async Task<ChildExit> RunAsync(string path, IReadOnlyList<string> argv, int? stderr = null)
    {
        var (_, exit) = Start(path, argv, new ChildStdio(DevNull, DevNull, stderr ?? DevNull));
        return await exit.ConfigureAwait(false);
    }
}
