namespace Spinbox.Virtio.Memory;

/// <summary>
/// Guest RAM addressed by guest-physical address. Every access is bounds-checked: a range that is not
/// wholly inside one mapped region throws <see cref="GuestMemoryException"/>, never touches host memory.
/// </summary>
public interface IGuestMemory
{
    /// <summary>A writable view of [gpa, gpa+length). Throws GuestMemoryException when out of range.</summary>
    Span<byte> GetSpan(ulong gpa, int length);

    /// <summary>Like GetSpan, but reports failure instead of throwing (for hot paths).</summary>
    bool TryGetSpan(ulong gpa, int length, out Span<byte> span);

    void Read(ulong gpa, Span<byte> destination);
    void Write(ulong gpa, ReadOnlySpan<byte> source);
    T Read<T>(ulong gpa) where T : unmanaged;
    void Write<T>(ulong gpa, T value) where T : unmanaged;
}

public sealed class GuestMemoryException(string message) : Exception(message);
