using Microsoft.Extensions.Logging;

namespace Spinbox.Shim.Logging;

/// <summary>
/// Writes logrus-style text lines (what containerd expects from a shim) to the bundle's `log` fifo,
/// which containerd copies into its own log, so `journalctl -u containerd` shows them.
/// </summary>
public sealed class ShimLog : ILoggerProvider
{
    private readonly object _gate = new();
    private readonly LogLevel _min;
    private TextWriter? _writer;
    private readonly string _id;

    public ShimLog(LogLevel min, string id) { _min = min; _id = id; }

    /// <summary>Opens the fifo in the background: the open blocks until containerd reads it.</summary>
    public void AttachFifo(string path)
    {
        if (!File.Exists(path)) return;
        var t = new Thread(() =>
        {
            try
            {
                var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1, false);
                lock (_gate) _writer = new StreamWriter(fs) { AutoFlush = true };
            }
            catch (Exception) { /* no log fifo reader: logging stays off, as with runc */ }
        }) { IsBackground = true, Name = "log-fifo" };
        t.Start();
    }

    public void AttachWriter(TextWriter writer) { lock (_gate) _writer = writer; }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { lock (_gate) { _writer?.Flush(); } }

    private void Write(LogLevel level, string category, string message, Exception? e)
    {
        if (level < _min) return;
        string lvl = level switch
        {
            LogLevel.Trace or LogLevel.Debug => "debug", LogLevel.Information => "info",
            LogLevel.Warning => "warning", LogLevel.Error => "error", _ => "fatal",
        };
        string msg = e is null ? message : $"{message}: {e.Message}";
        string line = $"time=\"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffffffZ}\" level={lvl} msg=\"{Escape(msg)}\" id={_id} runtime=io.containerd.spinbox.v1 component={category}";
        lock (_gate)
        {
            try { _writer?.WriteLine(line); } catch (IOException) { _writer = null; }
        }
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private sealed class Logger(ShimLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._min;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Write(logLevel, category, formatter(state, exception), exception);
    }
}
