using Spinbox.Virtio.Memory;
using Spinbox.Vmm.Kvm;

namespace Spinbox.Vmm.Boot;

/// <summary>Puts a vCPU's segment and control registers into the requested start mode.</summary>
public static class CpuModeSetup
{
    private const ulong Cr0Pe = 1, Cr0Et = 0x10, Cr0Pg = 0x8000_0000;
    private const ulong Cr4Pae = 0x20;
    private const ulong EferLme = 0x100, EferLma = 0x400;

    /// <summary>Writes the GDT (and page tables for long mode) that <paramref name="mode"/> needs; once per VM.</summary>
    public static void WriteTables(IGuestMemory memory, CpuMode mode)
    {
        if (mode == CpuMode.Real16) return;
        BootGdt.Write(memory);
        if (mode == CpuMode.Long64) IdentityPageTables.Write(memory);
    }

    /// <summary>Returns <paramref name="sregs"/> (the vCPU's reset state) changed for <paramref name="mode"/>.</summary>
    public static KvmSregs Apply(KvmSregs sregs, CpuMode mode)
    {
        switch (mode)
        {
            case CpuMode.Real16:
                sregs.Cs = AtZero(sregs.Cs);
                sregs.Ds = AtZero(sregs.Ds);
                sregs.Es = AtZero(sregs.Es);
                sregs.Fs = AtZero(sregs.Fs);
                sregs.Gs = AtZero(sregs.Gs);
                sregs.Ss = AtZero(sregs.Ss);
                sregs.Cr0 = Cr0Et; // caching enabled (reset sets CD/NW)
                break;
            case CpuMode.Protected32:
                sregs.Cs = BootGdt.Code32;
                SetData(ref sregs);
                sregs.Gdt = BootGdt.GdtRegister;
                sregs.Idt = BootGdt.IdtRegister;
                sregs.Cr0 = Cr0Pe | Cr0Et;
                break;
            case CpuMode.Long64:
                sregs.Cs = BootGdt.Code64;
                SetData(ref sregs);
                sregs.Gdt = BootGdt.GdtRegister;
                sregs.Idt = BootGdt.IdtRegister;
                sregs.Cr3 = Memory.GuestAddressMap.Pml4;
                sregs.Cr4 = Cr4Pae;
                sregs.Cr0 = Cr0Pe | Cr0Et | Cr0Pg;
                sregs.Efer = EferLme | EferLma;
                break;
        }
        return sregs;
    }

    private static void SetData(ref KvmSregs sregs)
    {
        sregs.Ds = sregs.Es = sregs.Fs = sregs.Gs = sregs.Ss = BootGdt.Data;
    }

    /// <summary>A real-mode segment at address 0 (the reset state keeps its limit and access rights).</summary>
    private static KvmSegment AtZero(KvmSegment segment)
    {
        segment.Base = 0;
        segment.Selector = 0;
        return segment;
    }
}
