using Microsoft.Extensions.Logging;
using Spinbox.Agent.V1;
using Spinbox.Virtio.Devices.Vsock;

namespace Spinbox.Shim.Io;

/// <summary>
/// Joins one process's containerd fifos to its guest stdio. Each stream is its own vsock connection:
/// we listen on a host port per stream, the agent connects and hands the socket to the process.
/// </summary>
public sealed class ProcessIo : IAsyncDisposable
{
    private readonly List<IDisposable> _listeners = new();
    private readonly List<Task> _copies = new();
    private readonly TaskCompletionSource _stdoutDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cts = new();
    private readonly ILogger _logger;
    private VsockStream? _stdin;
    private int _stdinClosed;

    public StdioPorts Ports { get; } = new();

    private ProcessIo(ILogger logger) { _logger = logger; }

    /// <summary>Completes when stdout and stderr reached EOF and were copied to their fifos.</summary>
    public Task OutputDone => Task.WhenAll(_stdoutDone.Task, _stderrDone.Task);

    public static ProcessIo Create(VirtioVsockDevice vsock, uint basePort, string stdin, string stdout, string stderr, bool terminal, ILogger logger)
    {
        var io = new ProcessIo(logger);
        io.Ports.Terminal = terminal;
        if (stdin.Length > 0)
        {
            io.Ports.Stdin = basePort;
            io._listeners.Add(vsock.Listen(basePort, s => io.Track(io.CopyStdinAsync(stdin, s))));
        }
        io.Output(vsock, basePort + 1, stdout, io._stdoutDone, p => io.Ports.Stdout = p);
        io.Output(vsock, basePort + 2, stderr, io._stderrDone, p => io.Ports.Stderr = p);
        return io;
    }

    private void Output(VirtioVsockDevice vsock, uint port, string fifo, TaskCompletionSource done, Action<uint> setPort)
    {
        if (fifo.Length == 0) { done.TrySetResult(); return; }
        setPort(port);
        // Open the fifo now: containerd's reader is already there, and output must not wait on it later.
        var open = FifoOpener.OpenAsync(fifo, forWriting: true, _cts.Token);
        _listeners.Add(vsock.Listen(port, s => Track(CopyOutputAsync(open, s, fifo, done))));
    }

    private void Track(Task t) { lock (_copies) _copies.Add(t); }

    private async Task CopyOutputAsync(Task<FileStream> open, VsockStream from, string fifo, TaskCompletionSource done)
    {
        try
        {
            await using var to = await open;
            await from.CopyToAsync(to, 64 * 1024, _cts.Token);
            await to.FlushAsync(_cts.Token);
            await WaitUntilReadAsync(to);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("output copy to {Fifo} ended: {Error}", fifo, e.Message);
        }
        finally
        {
            await from.DisposeAsync();
            done.TrySetResult();
        }
    }

    /// <summary>
    /// ctr stops reading a fifo as soon as it learns of the exit, so the exit is announced only once the
    /// reader has taken every byte we wrote (bounded: a reader that stopped must not hold the exit).
    /// </summary>
    private static async Task WaitUntilReadAsync(FileStream fifo)
    {
        for (int i = 0; i < 400 && Interop.Libc.UnreadBytes(fifo.SafeFileHandle) > 0; i++)
            await Task.Delay(5);
    }

    private async Task CopyStdinAsync(string fifo, VsockStream to)
    {
        _stdin = to;
        try
        {
            await using var from = await FifoOpener.OpenAsync(fifo, forWriting: false, _cts.Token);
            await from.CopyToAsync(to, 64 * 1024, _cts.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("stdin copy from {Fifo} ended: {Error}", fifo, e.Message);
        }
        finally { CloseStdin(); }
    }

    /// <summary>EOF on the process's stdin (fifo EOF, or containerd's CloseIO).</summary>
    public void CloseStdin()
    {
        if (_stdin is { } s && Interlocked.Exchange(ref _stdinClosed, 1) == 0)
        {
            try { s.ShutdownWrite(); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        foreach (var l in _listeners) l.Dispose();
        _stdin?.Dispose();
        Task[] copies;
        lock (_copies) copies = _copies.ToArray();
        await Task.WhenAny(Task.WhenAll(copies), Task.Delay(2000));
        _stdoutDone.TrySetResult();
        _stderrDone.TrySetResult();
        _cts.Dispose();
    }
}
