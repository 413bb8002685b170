using Microsoft.Extensions.Logging;
using Spinbox.Vmm.Boot;
using Spinbox.Vmm.Kvm;

namespace Spinbox.Vmm;

/// <summary>Initial CPUID, MSRs, FPU, local APIC and registers of one vCPU.</summary>
internal static class VcpuSetup
{
    private const uint CpuidHypervisorBit = 1u << 31;
    private const int LapicLint0 = 0x350, LapicLint1 = 0x360;
    private const uint DeliveryModeMask = 0x700, DeliveryExtInt = 0x700, DeliveryNmi = 0x400;

    // MSRs a booting kernel expects in a defined state (values as Firecracker sets them).
    private static readonly KvmMsrEntry[] BootMsrs =
    [
        new() { Index = 0x174 },          // IA32_SYSENTER_CS
        new() { Index = 0x175 },          // IA32_SYSENTER_ESP
        new() { Index = 0x176 },          // IA32_SYSENTER_EIP
        new() { Index = 0xc0000081 },     // STAR
        new() { Index = 0xc0000082 },     // LSTAR
        new() { Index = 0xc0000083 },     // CSTAR
        new() { Index = 0xc0000084 },     // SYSCALL_MASK
        new() { Index = 0xc0000102 },     // KERNEL_GS_BASE
        new() { Index = 0x10 },           // IA32_TSC
        new() { Index = 0x1a0, Data = 1 }, // IA32_MISC_ENABLE: fast strings
        new() { Index = 0x2ff, Data = (1 << 11) | 6 }, // MTRRdefType: MTRRs on, default write-back
    ];

    /// <summary>The supported CPUID with this vCPU's APIC id and the hypervisor bit.</summary>
    public static KvmCpuidEntry2[] CpuidFor(KvmCpuidEntry2[] supported, int vcpuIndex, int vcpuCount)
    {
        var entries = (KvmCpuidEntry2[])supported.Clone();
        for (int i = 0; i < entries.Length; i++)
        {
            ref var e = ref entries[i];
            switch (e.Function)
            {
                case 1:
                    e.Ebx = (e.Ebx & 0x0000ffff) | ((uint)vcpuIndex << 24) | ((uint)Math.Min(vcpuCount, 255) << 16);
                    e.Ecx |= CpuidHypervisorBit;
                    break;
                case 0xb:
                case 0x1f:
                    e.Edx = (uint)vcpuIndex; // x2APIC id
                    break;
            }
        }
        return entries;
    }

    public static void Configure(KvmVcpuFd vcpu, KvmCpuidEntry2[] cpuid, BootPlan plan, bool hasIrqchip, ILogger logger)
    {
        vcpu.SetCpuid(cpuid);
        try
        {
            vcpu.SetMsrs(BootMsrs);
        }
        catch (KvmException e)
        {
            logger.LogWarning("vCPU {Id}: boot MSRs not fully set: {Message}", vcpu.Id, e.Message);
        }

        var fpu = vcpu.GetFpu();
        fpu.Fcw = 0x37f;
        fpu.Mxcsr = 0x1f80;
        vcpu.SetFpu(fpu);

        if (hasIrqchip)
        {
            // LINT0 takes the PIC's ExtINT, LINT1 the NMI, as on a PC.
            var lapic = vcpu.GetLapic();
            lapic.SetRegister(LapicLint0, (lapic.GetRegister(LapicLint0) & ~DeliveryModeMask) | DeliveryExtInt);
            lapic.SetRegister(LapicLint1, (lapic.GetRegister(LapicLint1) & ~DeliveryModeMask) | DeliveryNmi);
            vcpu.SetLapic(lapic);
        }

        if (plan.OnlyBootCpuStarts && vcpu.Id != 0) return; // waits for INIT/SIPI from the boot CPU

        vcpu.SetSregs(CpuModeSetup.Apply(vcpu.GetSregs(), plan.Mode));
        vcpu.SetRegs(new KvmRegs
        {
            Rip = plan.Entry,
            Rsp = plan.StackPointer,
            Rbp = plan.StackPointer,
            Rsi = plan.Rsi,
            Rdi = plan.OnlyBootCpuStarts ? 0 : (ulong)vcpu.Id,
            Rflags = 2, // bit 1 is reserved and always set
        });
    }
}
