using System.Diagnostics;
using System.Text;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// Runs a child process with stdin always redirected (a test must never read the runner's own stdin),
/// stdout kept as raw bytes (so byte counts are exact) and a hard timeout that kills the whole tree.
/// </summary>
public static class ProcessRunner
{
    /// <param name="stdin">text written to the child's stdin; null means stdin is closed at once</param>
    /// <param name="closeStdinWhen">awaited after stdin is written and before it is closed (null: close at once)</param>
    public static async Task<ProcessResult> RunAsync(
        string file, IEnumerable<string> args, TimeSpan timeout, string? stdin = null,
        Func<CancellationToken, Task>? closeStdinWhen = null, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        using var cts = new CancellationTokenSource(timeout);
        var stdout = new MemoryStream();
        var stdoutCopy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderrRead = process.StandardError.ReadToEndAsync();
        // the stdin feeder also stops when the child exits, so a close condition never outlives it
        using var stdinCts = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var stdinFeed = FeedStdinAsync(process, stdin, closeStdinWhen, stdinCts.Token);

        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        stdinCts.Cancel();
        await Task.WhenAll(stdoutCopy, stderrRead);
        try { await stdinFeed; }
        catch (OperationCanceledException) { /* child exited before the close condition */ }
        catch (IOException) { /* child closed its stdin before reading it all */ }
        return new ProcessResult(process.ExitCode, stdout.ToArray(), await stderrRead, watch.Elapsed, timedOut);
    }

    private static async Task FeedStdinAsync(Process process, string? text, Func<CancellationToken, Task>? closeWhen, CancellationToken ct)
    {
        try
        {
            if (text is not null)
            {
                await process.StandardInput.BaseStream.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
                await process.StandardInput.BaseStream.FlushAsync(ct);
                if (closeWhen is not null) await closeWhen(ct);
            }
        }
        finally
        {
            try { process.StandardInput.Close(); } catch (IOException) { /* child closed its end */ }
        }
    }
}
