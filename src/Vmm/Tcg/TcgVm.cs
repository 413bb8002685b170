using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Spinbox.Virtio.VhostUser;

namespace Spinbox.Vmm.Tcg;

/// <summary>
/// The tcg execution backend: QEMU runs the vCPUs (TCG, q35) and nothing else; every device is a spinbox
/// device model served to QEMU over vhost-user from this process. Dispose leaves nothing behind: QEMU is
/// killed, the back ends stop, the sockets are removed.
/// </summary>
public sealed class TcgVm : IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _qemu;
    private readonly ILogger _logger;
    private readonly List<VhostUserBackend> _backends;
    private readonly List<Task> _backendRuns;
    private readonly QemuStderr _stderr;
    private int _disposed;

    private TcgVm(TcgVmConfig config, Process qemu, ILogger logger, List<VhostUserBackend> backends, List<Task> runs,
        QemuStderr stderr, TcgVmTimings timings, Task<int> exited)
    {
        Config = config;
        _qemu = qemu;
        _logger = logger;
        _backends = backends;
        _backendRuns = runs;
        _stderr = stderr;
        Timings = timings;
        Exited = exited;
    }

    public TcgVmConfig Config { get; }

    /// <summary>QEMU's exit code once it ended (0 after a guest power-off with -no-reboot).</summary>
    public Task<int> Exited { get; }

    public int ProcessId => _qemu.Id;

    public TcgVmTimings Timings { get; }

    public IReadOnlyList<string> SocketPaths => _backends.Select(b => b.SocketPath).ToList();

    /// <summary>QEMU's last stderr lines (also logged as they come).</summary>
    public string QemuStderrTail => _stderr.Tail();

    /// <summary>
    /// Starts the vhost-user back ends, then QEMU, and returns once QEMU connected to every back end.
    /// Throws (after cleaning up) when QEMU exits or does not connect within 30 s; the message carries QEMU's stderr.
    /// </summary>
    public static async Task<TcgVm> StartAsync(TcgVmConfig config, ILogger logger, CancellationToken cancellationToken = default)
    {
        config.Validate();
        var timings = new TcgVmTimings();
        Directory.CreateDirectory(config.RuntimeDirectory);
        var backends = new List<VhostUserBackend>();
        var runs = new List<Task>();
        Process? qemu = null;
        TcgVm? vm = null;
        try
        {
            for (int i = 0; i < config.Devices.Count; i++)
            {
                string socket = Path.Combine(config.RuntimeDirectory, $"vhost-user-{i}.sock");
                File.Delete(socket); // a stale socket from a crashed run would make bind fail
                backends.Add(new VhostUserBackend(config.Devices[i], socket, logger));
            }
            foreach (var b in backends) runs.Add(b.RunAsync());

            var start = new ProcessStartInfo(config.QemuBinary)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in QemuCommandLine.Build(config, backends.Select(b => b.SocketPath).ToList())) start.ArgumentList.Add(a);
            logger.LogDebug("tcg: starting {Qemu} {Args}", config.QemuBinary, string.Join(' ', start.ArgumentList));
            qemu = new Process { StartInfo = start, EnableRaisingEvents = true };
            var stderr = new QemuStderr(logger);
            qemu.ErrorDataReceived += (_, e) => stderr.Line(e.Data);
            qemu.OutputDataReceived += (_, e) => stderr.Line(e.Data);
            var exited = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var process = qemu;
            qemu.Exited += (_, _) =>
            {
                timings.MarkExited();
                try { exited.TrySetResult(process.ExitCode); } catch (InvalidOperationException) { exited.TrySetResult(-1); }
            };
            qemu.Start();
            timings.MarkSpawned();
            qemu.StandardInput.Close(); // QEMU reads nothing from us
            qemu.BeginErrorReadLine();
            qemu.BeginOutputReadLine();
            vm = new TcgVm(config, qemu, logger, backends, runs, stderr, timings, exited.Task);
            _ = vm.WatchFirstConsoleByteAsync();

            var connected = Task.WhenAll(backends.Select(b => b.Connected));
            var first = await Task.WhenAny(connected, exited.Task, Task.Delay(ConnectTimeout, cancellationToken)).ConfigureAwait(false);
            if (first == connected && connected.IsCompletedSuccessfully)
            {
                timings.MarkConnected();
                logger.LogInformation("tcg: QEMU pid {Pid} running, {Count} vhost-user devices connected ({Timings})",
                    qemu.Id, backends.Count, timings);
                return vm;
            }
            cancellationToken.ThrowIfCancellationRequested();
            // The exit can arrive before QEMU's last stderr lines do: let the reader reach EOF (bounded).
            if (exited.Task.IsCompleted) await Task.Run(() => qemu.WaitForExit()).WaitAsync(TimeSpan.FromSeconds(2)).ContinueWith(_ => { }).ConfigureAwait(false);
            string why = exited.Task.IsCompleted
                ? $"QEMU exited with code {exited.Task.Result} before connecting to its devices"
                : $"QEMU did not connect to its {backends.Count} vhost-user devices within {ConnectTimeout.TotalSeconds:F0} s";
            throw new InvalidOperationException($"{why}: {stderr.Tail()}");
        }
        catch
        {
            if (vm != null) vm.Dispose();
            else
            {
                if (qemu != null) { KillAndWait(qemu); qemu.Dispose(); }
                foreach (var b in backends) b.Dispose();
            }
            throw;
        }
    }

    /// <summary>Asks QEMU to quit (SIGTERM), then kills it when <paramref name="grace"/> runs out.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (Exited.IsCompleted) return;
        if (ProcessSignals.Terminate(_qemu.Id))
        {
            var done = await Task.WhenAny(Exited, Task.Delay(grace)).ConfigureAwait(false);
            if (done == Exited) return;
            _logger.LogWarning("tcg: QEMU pid {Pid} ignored SIGTERM for {Grace}; killing it", _qemu.Id, grace);
        }
        KillAndWait(_qemu);
        await Exited.ConfigureAwait(false);
    }

    private async Task WatchFirstConsoleByteAsync()
    {
        // Cheap: a stat every 5 ms until the first byte (or exit); the console itself is QEMU's file.
        try
        {
            while (!Exited.IsCompleted && _disposed == 0)
            {
                var info = new FileInfo(Config.ConsoleLogPath);
                if (info.Exists && info.Length > 0) { Timings.MarkFirstConsoleByte(); return; }
                await Task.Delay(5).ConfigureAwait(false);
            }
        }
        catch (IOException) { }
    }

    private static void KillAndWait(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { } // never started or already reaped
        catch (System.ComponentModel.Win32Exception) { }
    }

    /// <summary>Kills QEMU if it still runs, stops every back end and removes their sockets. Devices stay the caller's.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        KillAndWait(_qemu);
        foreach (var b in _backends) b.Dispose();
        if (!Task.WaitAll(_backendRuns.ToArray(), TimeSpan.FromSeconds(10)))
            _logger.LogError("tcg: vhost-user back ends did not stop within 10 s");
        foreach (var b in _backends)
            if (File.Exists(b.SocketPath)) File.Delete(b.SocketPath);
        _qemu.Dispose();
    }

    /// <summary>Forwards QEMU's stderr to the log and keeps its last lines for start-up error messages.</summary>
    private sealed class QemuStderr(ILogger logger)
    {
        private readonly Queue<string> _tail = new();

        public void Line(string? line)
        {
            if (string.IsNullOrEmpty(line)) return;
            logger.LogWarning("qemu: {Line}", line);
            lock (_tail)
            {
                _tail.Enqueue(line);
                if (_tail.Count > 20) _tail.Dequeue();
            }
        }

        public string Tail()
        {
            lock (_tail) return _tail.Count == 0 ? "(no output on stderr)" : string.Join(" | ", _tail);
        }
    }
}
