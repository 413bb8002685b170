namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// One private containerd started by scripts/private-containerd.sh: its own root, state, socket and log
/// under <see cref="Dir"/>. Its environment carries SPINBOX_SHIM_DIR (prepended to its PATH) and
/// SPINBOX_CONFIG from the test process, so containerd-shim-spinbox-v1 is found when it is built.
/// </summary>
public sealed class PrivateContainerd : IAsyncDisposable
{
    public const string Namespace = "default";
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(10); // first debootstrap is slow

    private PrivateContainerd(string series, string dir, string tree)
    {
        Series = series;
        Dir = dir;
        CtrPath = Path.Combine(tree, "usr", "bin", "ctr");
    }

    /// <summary>"2.1" or "1.7".</summary>
    public string Series { get; }
    public string Dir { get; }
    public string CtrPath { get; }
    public string Socket => Path.Combine(Dir, "containerd.sock");
    public string StateDir => Path.Combine(Dir, "state");
    public string LogPath => Path.Combine(Dir, "containerd.log");
    /// <summary>Where containerd's v2 task manager keeps each container's bundle.</summary>
    public string TaskStateDir => Path.Combine(StateDir, "io.containerd.runtime.v2.task", Namespace);

    public static async Task<PrivateContainerd> StartAsync(string series, string dir)
    {
        var tree = await Script("containerd.sh", "--root", series);
        await Script("private-containerd.sh", "start", series, dir);
        var instance = new PrivateContainerd(series, dir, tree.Stdout.Trim());
        try
        {
            await Script("images.sh", "import", dir, "busybox", "debian");
        }
        catch
        {
            await instance.DisposeAsync();
            throw;
        }
        return instance;
    }

    /// <summary>Runs this instance's ctr against its socket. Stdin is closed at once unless given.</summary>
    public Task<ProcessResult> RunCtr(string[] args, string? stdin = null, TimeSpan? timeout = null,
        Func<CancellationToken, Task>? closeStdinWhen = null) =>
        ProcessRunner.RunAsync(CtrPath, ["--address", Socket, "-n", Namespace, .. args],
            timeout ?? TimeSpan.FromSeconds(60), stdin, closeStdinWhen);

    public Task<ProcessResult> Ctr(params string[] args) => RunCtr(args);

    public async ValueTask DisposeAsync() => await Script("private-containerd.sh", "stop", Dir, "--purge");

    private static async Task<ProcessResult> Script(string name, params string[] args)
    {
        var r = await ProcessRunner.RunAsync("bash", [RepoPaths.Script(name), .. args], ScriptTimeout);
        if (r.ExitCode != 0 || r.TimedOut)
            throw new InvalidOperationException($"scripts/{name} {string.Join(' ', args)} failed: {r.Describe()}");
        return r;
    }
}
