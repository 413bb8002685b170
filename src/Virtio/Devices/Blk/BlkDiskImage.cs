using Microsoft.Win32.SafeHandles;

namespace Spinbox.Virtio.Devices.Blk;

/// <summary>A raw disk image file, accessed with positional reads and writes (pread/pwrite) into spans.</summary>
public sealed class BlkDiskImage : IDisposable
{
    public const int SectorSize = 512;

    private readonly FileStream _file; // owns the handle; only used for fsync
    private readonly SafeFileHandle _handle;

    public BlkDiskImage(string path, bool readOnly)
    {
        Path = path;
        ReadOnly = readOnly;
        _file = new FileStream(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
            FileShare.Read, bufferSize: 0); // others may read the image, nobody else may write it
        _handle = _file.SafeFileHandle;
        LengthBytes = RandomAccess.GetLength(_handle);
    }

    public string Path { get; }
    public bool ReadOnly { get; }
    public long LengthBytes { get; }

    /// <summary>Whole 512-byte sectors; a partial trailing sector is not exposed.</summary>
    public ulong CapacitySectors => (ulong)LengthBytes / SectorSize;

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; false when the file ends first.</summary>
    public bool TryRead(Span<byte> destination, long offset)
    {
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, destination, offset);
            if (n <= 0) return false;
            destination = destination[n..];
            offset += n;
        }
        return true;
    }

    public void Write(ReadOnlySpan<byte> source, long offset)
    {
        if (ReadOnly) throw new InvalidOperationException("disk image is read-only");
        RandomAccess.Write(_handle, source, offset);
    }

    /// <summary>Makes written data durable (fsync).</summary>
    public void Flush()
    {
        if (!ReadOnly) _file.Flush(flushToDisk: true);
    }

    public void Dispose() => _file.Dispose();
}
