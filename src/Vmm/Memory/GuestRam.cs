using Spinbox.Virtio.Memory;
using Spinbox.Vmm.Kvm;

namespace Spinbox.Vmm.Memory;

/// <summary>
/// The VM's RAM: memfd-backed (so a vhost-user back end can map the same pages), split around the
/// 32-bit MMIO hole: [0, min(size, 3 GiB)) and, for larger VMs, the rest from 4 GiB. All access goes
/// through <see cref="Memory"/>, which bounds-checks every guest-physical range.
/// </summary>
public sealed class GuestRam : IDisposable
{
    private readonly MemfdGuestMemory.Allocation[] _allocations;

    private GuestRam(MemfdGuestMemory.Allocation[] allocations)
    {
        _allocations = allocations;
        Memory = new MappedGuestMemory(allocations.SelectMany(a => a.Memory.Regions));
        Size = allocations.Aggregate(0UL, (sum, a) => sum + a.Size);
    }

    public MappedGuestMemory Memory { get; }
    public ulong Size { get; }
    public IReadOnlyList<GuestMemoryRegion> Regions => Memory.Regions;

    /// <summary>The memfd behind each region, in region order (for vhost-user SET_MEM_TABLE).</summary>
    public IReadOnlyList<int> Fds => _allocations.Select(a => a.Fd).ToArray();

    /// <summary>End of the RAM below the MMIO hole.</summary>
    public ulong LowRamEnd => Math.Min(Size, GuestAddressMap.MmioHoleStart);

    public static GuestRam Create(string name, ulong size)
    {
        const ulong Page = 4096;
        if (size < 1024 * 1024 || size % Page != 0)
            throw new ArgumentException($"guest memory size {size} must be at least 1 MiB and a multiple of 4096", nameof(size));
        ulong low = Math.Min(size, GuestAddressMap.MmioHoleStart);
        var allocations = new List<MemfdGuestMemory.Allocation>();
        try
        {
            allocations.Add(MemfdGuestMemory.Create($"{name}-low", low, 0));
            if (size > low) allocations.Add(MemfdGuestMemory.Create($"{name}-high", size - low, GuestAddressMap.MmioHoleEnd));
            return new GuestRam([.. allocations]);
        }
        catch
        {
            foreach (var a in allocations) a.Dispose();
            throw;
        }
    }

    /// <summary>Registers every region with KVM, one memory slot each.</summary>
    public void RegisterWith(KvmVmFd vm)
    {
        uint slot = 0;
        foreach (var r in Regions) vm.SetUserMemoryRegion(slot++, r.GuestPhysicalAddress, r.Size, r.HostAddress);
    }

    public void Dispose()
    {
        foreach (var a in _allocations) a.Dispose();
    }
}
