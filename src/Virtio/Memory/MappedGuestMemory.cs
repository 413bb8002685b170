using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Spinbox.Virtio.Memory;

/// <summary>
/// Guest RAM made of regions already mapped into this process (a memfd the VMM created, or the fds a
/// vhost-user front end sent). The only place outside the ioctl layer that turns addresses into pointers.
/// </summary>
public sealed unsafe class MappedGuestMemory : IGuestMemory, IDisposable
{
    private readonly GuestMemoryRegion[] _regions;
    private readonly Action? _onDispose;

    public MappedGuestMemory(IEnumerable<GuestMemoryRegion> regions, Action? onDispose = null)
    {
        _regions = regions.OrderBy(r => r.GuestPhysicalAddress).ToArray();
        for (int i = 1; i < _regions.Length; i++)
            if (_regions[i].GuestPhysicalAddress < _regions[i - 1].End)
                throw new ArgumentException("guest memory regions overlap", nameof(regions));
        _onDispose = onDispose;
    }

    public IReadOnlyList<GuestMemoryRegion> Regions => _regions;

    public bool TryGetSpan(ulong gpa, int length, out Span<byte> span)
    {
        if (length >= 0)
        {
            foreach (ref readonly var r in _regions.AsSpan())
            {
                if (r.Contains(gpa, (ulong)length))
                {
                    span = new Span<byte>((byte*)r.HostAddress + (gpa - r.GuestPhysicalAddress), length);
                    return true;
                }
            }
        }
        span = default;
        return false;
    }

    public Span<byte> GetSpan(ulong gpa, int length) =>
        TryGetSpan(gpa, length, out var span)
            ? span
            : throw new GuestMemoryException($"guest range 0x{gpa:x}+{length} is outside guest RAM");

    public void Read(ulong gpa, Span<byte> destination) => GetSpan(gpa, destination.Length).CopyTo(destination);

    public void Write(ulong gpa, ReadOnlySpan<byte> source) => source.CopyTo(GetSpan(gpa, source.Length));

    public T Read<T>(ulong gpa) where T : unmanaged =>
        Unsafe.ReadUnaligned<T>(ref MemoryMarshal.GetReference(GetSpan(gpa, sizeof(T))));

    public void Write<T>(ulong gpa, T value) where T : unmanaged =>
        Unsafe.WriteUnaligned(ref MemoryMarshal.GetReference(GetSpan(gpa, sizeof(T))), value);

    /// <summary>Translates a vhost-user front-end virtual address to a guest-physical one.</summary>
    public bool TryTranslateFrontEndAddress(ulong frontEndAddress, out ulong gpa)
    {
        foreach (var r in _regions)
        {
            if (r.FrontEndAddress != 0 && frontEndAddress >= r.FrontEndAddress && frontEndAddress - r.FrontEndAddress < r.Size)
            {
                gpa = r.GuestPhysicalAddress + (frontEndAddress - r.FrontEndAddress);
                return true;
            }
        }
        gpa = 0;
        return false;
    }

    public void Dispose() => _onDispose?.Invoke();
}
