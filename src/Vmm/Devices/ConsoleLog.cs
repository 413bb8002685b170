namespace Spinbox.Vmm.Devices;

/// <summary>
/// Where the guest's serial output goes: a host file (the VM's console log) and any observer. Flushed at
/// each newline so the log can be tailed while the VM runs.
/// </summary>
public sealed class ConsoleLog : IDisposable
{
    private readonly object _gate = new();
    private readonly FileStream? _file;
    private readonly TaskCompletionSource _firstByte = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly MemoryStream _recent = new();
    private const int RecentLimit = 1 << 20;
    private long _bytes;

    public ConsoleLog(string? path)
    {
        if (path is null) return;
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 4096);
    }

    /// <summary>Completes when the guest writes its first byte.</summary>
    public Task FirstByte => _firstByte.Task;

    public long BytesWritten => Interlocked.Read(ref _bytes);

    /// <summary>The first MiB the guest wrote, kept in memory for probes and diagnostics.</summary>
    public byte[] Bytes
    {
        get { lock (_gate) return _recent.ToArray(); }
    }

    public string Text => System.Text.Encoding.Latin1.GetString(Bytes);

    /// <summary>Raised for every byte, on the vCPU thread that wrote it.</summary>
    public event Action<byte>? ByteWritten;

    public void Write(byte value)
    {
        lock (_gate)
        {
            _file?.WriteByte(value);
            if (value == (byte)'\n') _file?.Flush();
            if (_recent.Length < RecentLimit) _recent.WriteByte(value);
        }
        Interlocked.Increment(ref _bytes);
        _firstByte.TrySetResult();
        ByteWritten?.Invoke(value);
    }

    public void Flush()
    {
        lock (_gate) _file?.Flush();
    }

    public void Dispose()
    {
        lock (_gate) _file?.Dispose();
    }
}
