using Spinbox.Virtio.Memory;

namespace Spinbox.Virtio.VhostUser;

/// <summary>
/// The guest RAM a front end shared with SET_MEM_TABLE: each region's fd mapped here, exposed as a
/// <see cref="MappedGuestMemory"/> whose regions remember the front end's virtual address. Dispose unmaps.
/// </summary>
internal sealed class VhostUserMemoryTable : IDisposable
{
    private readonly List<(nint Address, ulong Length)> _mappings = [];
    private int _disposed;

    public MappedGuestMemory Memory { get; }

    /// <summary>Maps every region's fd. The fds may be closed afterwards: the mappings keep the memory alive.</summary>
    public static VhostUserMemoryTable Map(IReadOnlyList<MemoryRegionDescription> regions, IReadOnlyList<OwnedFd> fds)
    {
        const ulong page = 4096;
        var mapped = new List<(nint Address, ulong Length)>();
        var guestRegions = new List<GuestMemoryRegion>();
        try
        {
            for (int i = 0; i < regions.Count; i++)
            {
                var r = regions[i];
                // mmap needs a page-aligned offset; map from the page below and skip the slack.
                ulong alignedOffset = r.MmapOffset & ~(page - 1);
                ulong slack = r.MmapOffset - alignedOffset;
                ulong length = r.Size + slack;
                nint address = UnixInterop.MapShared(fds[i], length, alignedOffset);
                mapped.Add((address, length));
                guestRegions.Add(new GuestMemoryRegion(r.GuestAddress, r.Size, address + (nint)slack, r.UserAddress));
            }
            MappedGuestMemory memory;
            try { memory = new MappedGuestMemory(guestRegions); }
            catch (ArgumentException e) { throw new VhostUserProtocolException($"SetMemTable: {e.Message}"); }
            var table = new VhostUserMemoryTable(memory);
            table._mappings.AddRange(mapped);
            mapped.Clear();
            return table;
        }
        finally
        {
            foreach (var (address, length) in mapped) UnixInterop.Unmap(address, length);
        }
    }

    private VhostUserMemoryTable(MappedGuestMemory memory) => Memory = memory;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var (address, length) in _mappings) UnixInterop.Unmap(address, length);
        _mappings.Clear();
    }
}
