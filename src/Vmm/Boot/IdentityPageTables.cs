using Spinbox.Virtio.Memory;
using Spinbox.Vmm.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>Identity-maps the first 4 GiB with 2 MiB pages (PML4 -> one PDPT -> four page directories).</summary>
public static class IdentityPageTables
{
    private const ulong Present = 1, Writable = 2, LargePage = 0x80;
    private const ulong TwoMiB = 2UL << 20;

    public static ulong Write(IGuestMemory memory)
    {
        memory.Write(GuestAddressMap.Pml4, GuestAddressMap.Pdpt | Present | Writable);
        for (ulong gib = 0; gib < 4; gib++)
        {
            ulong directory = GuestAddressMap.PageDirectories + gib * 0x1000;
            memory.Write(GuestAddressMap.Pdpt + gib * 8, directory | Present | Writable);
            for (ulong i = 0; i < 512; i++)
                memory.Write(directory + i * 8, ((gib * 512 + i) * TwoMiB) | Present | Writable | LargePage);
        }
        return GuestAddressMap.Pml4;
    }
}
