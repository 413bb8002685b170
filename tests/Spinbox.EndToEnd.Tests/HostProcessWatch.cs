using System.Text;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// Until stopped, looks every 100 ms through every host process's argv and environment for a string
/// (a secret that must reach the VM without showing in the shim's or QEMU's command line or environment).
/// Processes whose argv[0] is one of <c>except</c> (the ctr that was handed the secret) are not counted.
/// </summary>
public sealed class HostProcessWatch : IDisposable
{
    private readonly string _needle;
    private readonly string[] _except;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<string> _found = new();
    private readonly Task _loop;

    public HostProcessWatch(string needle, params string[] except)
    {
        _needle = needle;
        _except = except;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Stops watching; returns "PID argv" of each process seen holding the string.</summary>
    public async Task<List<string>> StopAsync()
    {
        _stop.Cancel();
        await _loop;
        return _found.ToList();
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            ScanOnce();
            try { await Task.Delay(100, _stop.Token); }
            catch (OperationCanceledException) { return; }
        }
    }

    private void ScanOnce()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            var argv = Read(Path.Combine(dir, "cmdline"));
            if (argv is null || _except.Contains(argv.Split('\0')[0])) continue;
            var environ = Read(Path.Combine(dir, "environ"));
            if (argv.Contains(_needle) || (environ?.Contains(_needle) ?? false))
                _found.Add($"{pid} {argv.Replace('\0', ' ').Trim()}");
        }
    }

    private static string? Read(string path)
    {
        try { return Encoding.UTF8.GetString(File.ReadAllBytes(path)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; } // exited while we looked
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _loop.Wait(); } catch (AggregateException) { /* stopping */ }
        _stop.Dispose();
    }
}
