namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>
/// A FIFO of bytes bounded by <see cref="Capacity"/>. Storage starts small and grows on demand, so an idle
/// connection costs a few KiB, not its whole window. Not thread-safe: the device lock guards it.
/// </summary>
internal sealed class ByteRing(int capacity)
{
    private const int InitialStorage = 4096;
    private byte[] _buffer = [];
    private int _head;

    public int Capacity { get; } = capacity;
    public int Count { get; private set; }
    public int Free => Capacity - Count;

    /// <summary>Appends as much of <paramref name="source"/> as fits; returns how many bytes.</summary>
    public int Write(ReadOnlySpan<byte> source)
    {
        int n = Math.Min(source.Length, Free);
        int done = 0;
        while (done < n)
        {
            var span = GetWriteSpan(n - done);
            source.Slice(done, span.Length).CopyTo(span);
            Commit(span.Length);
            done += span.Length;
        }
        return n;
    }

    /// <summary>A contiguous free span of at most <paramref name="max"/> bytes at the tail (may be shorter at the wrap).</summary>
    public Span<byte> GetWriteSpan(int max)
    {
        max = Math.Min(max, Free);
        if (max <= 0) return default;
        EnsureStorage(Count + max);
        if (Count == 0) _head = 0;
        int tail = _head + Count;
        if (tail >= _buffer.Length)
        {
            tail -= _buffer.Length; // data wraps: the free gap lies between tail and head
            return _buffer.AsSpan(tail, Math.Min(max, _head - tail));
        }
        return _buffer.AsSpan(tail, Math.Min(max, _buffer.Length - tail));
    }

    /// <summary>Marks <paramref name="count"/> bytes written into the last <see cref="GetWriteSpan"/> as data.</summary>
    public void Commit(int count)
    {
        if (count < 0 || count > Free || Count + count > _buffer.Length) throw new ArgumentOutOfRangeException(nameof(count));
        Count += count;
    }

    /// <summary>The contiguous data at the head (may be shorter than Count at the wrap).</summary>
    public ReadOnlySpan<byte> GetReadSpan() =>
        Count == 0 ? default : _buffer.AsSpan(_head, Math.Min(Count, _buffer.Length - _head));

    public void Consume(int count)
    {
        if (count < 0 || count > Count) throw new ArgumentOutOfRangeException(nameof(count));
        Count -= count;
        _head = Count == 0 ? 0 : (_head + count) % _buffer.Length;
    }

    /// <summary>Moves up to destination.Length bytes out of the ring.</summary>
    public int Read(Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length && Count > 0)
        {
            var span = GetReadSpan();
            int n = Math.Min(span.Length, destination.Length - done);
            span[..n].CopyTo(destination[done..]);
            Consume(n);
            done += n;
        }
        return done;
    }

    public void Clear()
    {
        Count = 0;
        _head = 0;
        _buffer = [];
    }

    private void EnsureStorage(int needed)
    {
        if (needed <= _buffer.Length) return;
        int size = Math.Max(_buffer.Length * 2, InitialStorage);
        while (size < needed) size *= 2;
        size = Math.Min(size, Capacity);
        var grown = new byte[size];
        int copied = 0;
        while (copied < Count)
        {
            int n = Math.Min(Count - copied, _buffer.Length - (_head + copied) % _buffer.Length);
            _buffer.AsSpan((_head + copied) % _buffer.Length, n).CopyTo(grown.AsSpan(copied));
            copied += n;
        }
        _buffer = grown;
        _head = 0;
    }
}
