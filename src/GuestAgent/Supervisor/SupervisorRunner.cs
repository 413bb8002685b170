using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;
using Spinbox.GuestAgent.Processes;

namespace Spinbox.GuestAgent.Supervisor;

/// <summary>
/// Keeps /run/spin-stack/spin-supervisor running: stdout and stderr appended to
/// /var/log/spin-supervisor.log, the config file named by SPIN_SUPERVISOR_CONFIG, restarted with
/// <see cref="RestartBackoff"/> whenever it exits.
/// </summary>
internal sealed class SupervisorRunner(ProcessSpawner spawner)
{
    public const string Binary = "/run/spin-stack/spin-supervisor";
    public const string ConfigPath = "/run/spin-stack/supervisor.conf";
    public const string LogPath = "/var/log/spin-supervisor.log";

    private int _started;

    public bool IsStarted => Volatile.Read(ref _started) == 1;

    /// <summary>Starts the restart loop once; later calls do nothing and return false.</summary>
    public bool Start()
    {
        if (!File.Exists(Binary))
        {
            throw new FileNotFoundException($"the supervisor is enabled but {Binary} does not exist (inject it with io.spin.extras.files)");
        }

        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            return false;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(LogPath)!);
        // Created before the first run so a log mirror can open it straight away.
        Libc.Close(OpenLog());
        _ = Task.Run(KeepRunningAsync);
        return true;
    }

    private static int OpenLog() => Libc.Open(LogPath, Libc.O_WRONLY | Libc.O_APPEND | Libc.O_CREAT | Libc.O_CLOEXEC, 0x1a4 /* 0644 */);

    private async Task KeepRunningAsync()
    {
        TimeSpan? delay = null;
        while (true)
        {
            var started = DateTime.UtcNow;
            try
            {
                var exit = await RunOnceAsync().ConfigureAwait(false);
                var ran = DateTime.UtcNow - started;
                delay = RestartBackoff.Next(delay, ran);
                AgentLog.Info($"supervisor exited with status {exit.ExitStatus} after {ran.TotalSeconds:F1} s; restarting in {delay.Value.TotalSeconds:F0} s");
            }
            catch (Exception e) when (e is LibcException or IOException)
            {
                delay = RestartBackoff.Next(delay, TimeSpan.Zero);
                AgentLog.Error($"supervisor failed to start: {e.Message}; retrying in {delay.Value.TotalSeconds:F0} s");
            }

            await Task.Delay(delay.Value).ConfigureAwait(false);
        }
    }

    private async Task<ChildExit> RunOnceAsync()
    {
        int log = OpenLog();
        Task<ChildExit> exit;
        try
        {
            string[] environment = [.. ProcessSpawner.DefaultEnvironment, $"SPIN_SUPERVISOR_CONFIG={ConfigPath}"];
            (int pid, exit) = spawner.Start(Binary, [Binary], new ChildStdio(spawner.DevNull, log, log), environment);
            AgentLog.Info($"supervisor started, pid {pid}");
        }
        finally
        {
            Libc.Close(log);
        }

        return await exit.ConfigureAwait(false);
    }
}
