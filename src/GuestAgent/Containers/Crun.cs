using Spinbox.GuestAgent.Processes;

namespace Spinbox.GuestAgent.Containers;

/// <summary>
/// Drives the crun binary. Every command gets its own --log file so a failure can be reported with
/// crun's words (a missing executable, a bad mount) instead of a bare exit code.
/// </summary>
internal sealed class Crun(ProcessSpawner spawner, bool noPivot, string executable = Crun.Binary)
{
    public const string Binary = "/usr/bin/crun";
    private const int MaxLogChars = 4000;

    /// <summary>
    /// The crun binary to execute: a sealed in-memory copy made once, when possible. Otherwise crun copies
    /// itself into a fresh memfd on every run (its guard against CVE-2019-5736), which costs time under
    /// emulation and leaves freed pages of executed code behind: under TCG, code a vhost-user disk later
    /// reads into such a page can run QEMU's stale translation of the old code.
    /// </summary>
    public static string PrepareExecutable()
    {
        try
        {
            int fd = Interop.Libc.CreateSealedCopy(Binary, "crun");
            return $"/proc/{Environment.ProcessId}/fd/{fd}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Logging.AgentLog.Error($"cannot make a sealed copy of crun ({e.Message}); running {Binary}");
            return Binary;
        }
    }

    /// <summary>crun create with the given stdio as the container's; returns the init pid and its exit.</summary>
    public async Task<(int Pid, Task<ChildExit> Exit)> CreateAsync(string id, string bundle, ChildStdio stdio)
    {
        string pidFile = Path.Combine(bundle, "init.pid");
        var args = new List<string> { "create" };
        if (noPivot)
        {
            args.Add("--no-pivot");
        }

        args.AddRange(["--bundle", bundle, "--pid-file", pidFile, id]);
        return await RunDetachingAsync("create", id, bundle, args, stdio, pidFile).ConfigureAwait(false);
    }

    /// <summary>crun exec --detach: the process runs with the given stdio; returns its pid and exit.</summary>
    public async Task<(int Pid, Task<ChildExit> Exit)> ExecAsync(string id, string bundle, string execId, string processJsonPath, ChildStdio stdio)
    {
        string pidFile = Path.Combine(bundle, $"exec-{execId}.pid");
        var args = new List<string> { "exec", "--detach", "--pid-file", pidFile, "--process", processJsonPath, id };
        return await RunDetachingAsync($"exec-{execId}", id, bundle, args, stdio, pidFile).ConfigureAwait(false);
    }

    public Task StartAsync(string id, string bundle) => RunAsync("start", bundle, ["start", id]);

    public Task KillAllAsync(string id, string bundle, uint signal) => RunAsync("kill", bundle, ["kill", "--all", id, signal.ToString()]);

    public Task DeleteAsync(string id, string bundle) => RunAsync("delete", bundle, ["delete", "--force", id]);

    private async Task<(int Pid, Task<ChildExit> Exit)> RunDetachingAsync(string op, string id, string bundle, List<string> args, ChildStdio stdio, string pidFile)
    {
        // The process crun leaves behind is reparented to us when crun exits; statuses reaped
        // before this point cannot be its own.
        long since = spawner.Reaper.Sequence;
        string log = PrepareLog(bundle, op);
        var (_, crunExit) = spawner.Start(executable, ["crun", $"--log={log}", .. args], stdio);
        var exit = await crunExit.ConfigureAwait(false);
        if (exit.ExitStatus != 0)
        {
            throw Failure($"crun {args[0]} {id}", exit, log);
        }

        if (!int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid) || pid <= 0)
        {
            throw new CrunException($"crun {args[0]} {id}: pid file {pidFile} holds no pid");
        }

        return (pid, spawner.Reaper.Adopt(pid, since));
    }

    private async Task RunAsync(string op, string bundle, string[] args)
    {
        string log = PrepareLog(bundle, op);
        var exit = await spawner.RunAsync(executable, ["crun", $"--log={log}", .. args]).ConfigureAwait(false);
        if (exit.ExitStatus != 0)
        {
            throw Failure($"crun {string.Join(' ', args)}", exit, log);
        }
    }

    private static string PrepareLog(string bundle, string op)
    {
        string log = Path.Combine(bundle, $"crun-{op}.log");
        File.WriteAllText(log, "");
        return log;
    }

    private static CrunException Failure(string command, ChildExit exit, string log)
    {
        string text;
        try
        {
            text = File.ReadAllText(log).Trim();
        }
        catch (IOException)
        {
            text = "";
        }

        if (text.Length > MaxLogChars)
        {
            text = "..." + text[^MaxLogChars..];
        }

        return new CrunException(text.Length > 0
            ? $"{command} failed (exit status {exit.ExitStatus}): {text}"
            : $"{command} failed with exit status {exit.ExitStatus} and no log output");
    }
}
