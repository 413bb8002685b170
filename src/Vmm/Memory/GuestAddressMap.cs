namespace Spinbox.Vmm.Memory;

/// <summary>Where things live in the guest-physical address space of an x86-64 Spinbox VM.</summary>
public static class GuestAddressMap
{
    // Low memory, below 1 MiB: boot structures written by the VMM.
    public const ulong Gdt = 0x500;
    public const ulong Idt = 0x520;
    public const ulong ZeroPage = 0x7000;          // Linux boot_params
    public const ulong BootStack = 0x8ff0;
    public const ulong Pml4 = 0x9000;
    public const ulong Pdpt = 0xa000;
    public const ulong PageDirectories = 0xb000;   // four pages: identity map of the first 4 GiB
    public const ulong Cmdline = 0x20000;
    public const ulong CmdlineMax = 0x10000;
    public const ulong Ebda = 0x9fc00;             // MP table; reserved in the e820 map
    public const ulong LowRamEnd = 0xa0000;        // VGA hole and BIOS area from here to 1 MiB
    public const ulong HighMemory = 0x100000;

    // The 32-bit MMIO hole: RAM beyond 3 GiB continues at 4 GiB.
    public const ulong MmioHoleStart = 0xc000_0000;
    public const ulong MmioHoleEnd = 0x1_0000_0000;
    public const ulong VirtioMmioBase = 0xd000_0000;
    public const ulong IoApic = 0xfec0_0000;
    public const ulong LocalApic = 0xfee0_0000;
    public const ulong KvmTss = 0xfffb_d000;       // three pages KVM needs on Intel for real mode

    /// <summary>First interrupt line of virtio-mmio devices (0-4 are the PIT, keyboard, cascade, COM2 and COM1).</summary>
    public const uint FirstVirtioIrq = 5;
    public const uint LastIoApicPin = 23;
}
