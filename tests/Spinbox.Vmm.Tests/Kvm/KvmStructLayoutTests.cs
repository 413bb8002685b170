using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Spinbox.Vmm.Boot;
using Spinbox.Vmm.Kvm;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>
/// Every struct, field offset and ioctl number the VMM hands to the kernel, compared with what gcc computes
/// from the kernel headers (linux-libc-dev): a C program prints "name value" lines.
/// </summary>
public sealed class KvmStructLayoutTests
{
    private static readonly (string Name, string CExpression, long CSharp)[] Checks =
    [
        ("kvm_regs", "sizeof(struct kvm_regs)", Unsafe.SizeOf<KvmRegs>()),
        ("kvm_regs.rip", "offsetof(struct kvm_regs, rip)", Offset<KvmRegs>("Rip")),
        ("kvm_regs.rflags", "offsetof(struct kvm_regs, rflags)", Offset<KvmRegs>("Rflags")),
        ("kvm_segment", "sizeof(struct kvm_segment)", Unsafe.SizeOf<KvmSegment>()),
        ("kvm_segment.selector", "offsetof(struct kvm_segment, selector)", Offset<KvmSegment>("Selector")),
        ("kvm_segment.type", "offsetof(struct kvm_segment, type)", Offset<KvmSegment>("Type")),
        ("kvm_segment.unusable", "offsetof(struct kvm_segment, unusable)", Offset<KvmSegment>("Unusable")),
        ("kvm_dtable", "sizeof(struct kvm_dtable)", Unsafe.SizeOf<KvmDtable>()),
        ("kvm_dtable.limit", "offsetof(struct kvm_dtable, limit)", Offset<KvmDtable>("Limit")),
        ("kvm_sregs", "sizeof(struct kvm_sregs)", Unsafe.SizeOf<KvmSregs>()),
        ("kvm_sregs.ss", "offsetof(struct kvm_sregs, ss)", Offset<KvmSregs>("Ss")),
        ("kvm_sregs.ldt", "offsetof(struct kvm_sregs, ldt)", Offset<KvmSregs>("Ldt")),
        ("kvm_sregs.gdt", "offsetof(struct kvm_sregs, gdt)", Offset<KvmSregs>("Gdt")),
        ("kvm_sregs.idt", "offsetof(struct kvm_sregs, idt)", Offset<KvmSregs>("Idt")),
        ("kvm_sregs.cr0", "offsetof(struct kvm_sregs, cr0)", Offset<KvmSregs>("Cr0")),
        ("kvm_sregs.efer", "offsetof(struct kvm_sregs, efer)", Offset<KvmSregs>("Efer")),
        ("kvm_sregs.apic_base", "offsetof(struct kvm_sregs, apic_base)", Offset<KvmSregs>("ApicBase")),
        ("kvm_sregs.interrupt_bitmap", "offsetof(struct kvm_sregs, interrupt_bitmap)", Offset<KvmSregs>("InterruptBitmap")),
        ("kvm_fpu", "sizeof(struct kvm_fpu)", Unsafe.SizeOf<KvmFpu>()),
        ("kvm_fpu.fcw", "offsetof(struct kvm_fpu, fcw)", Offset<KvmFpu>("Fcw")),
        ("kvm_fpu.last_ip", "offsetof(struct kvm_fpu, last_ip)", Offset<KvmFpu>("LastIp")),
        ("kvm_fpu.xmm", "offsetof(struct kvm_fpu, xmm)", Offset<KvmFpu>("Xmm")),
        ("kvm_fpu.mxcsr", "offsetof(struct kvm_fpu, mxcsr)", Offset<KvmFpu>("Mxcsr")),
        ("kvm_msr_entry", "sizeof(struct kvm_msr_entry)", Unsafe.SizeOf<KvmMsrEntry>()),
        ("kvm_msr_entry.data", "offsetof(struct kvm_msr_entry, data)", Offset<KvmMsrEntry>("Data")),
        ("kvm_msrs", "sizeof(struct kvm_msrs)", Unsafe.SizeOf<KvmMsrsHeader>()),
        ("kvm_msrs.entries", "offsetof(struct kvm_msrs, entries)", Unsafe.SizeOf<KvmMsrsHeader>()),
        ("kvm_cpuid_entry2", "sizeof(struct kvm_cpuid_entry2)", Unsafe.SizeOf<KvmCpuidEntry2>()),
        ("kvm_cpuid_entry2.eax", "offsetof(struct kvm_cpuid_entry2, eax)", Offset<KvmCpuidEntry2>("Eax")),
        ("kvm_cpuid_entry2.edx", "offsetof(struct kvm_cpuid_entry2, edx)", Offset<KvmCpuidEntry2>("Edx")),
        ("kvm_cpuid2", "sizeof(struct kvm_cpuid2)", Unsafe.SizeOf<KvmCpuid2Header>()),
        ("kvm_cpuid2.entries", "offsetof(struct kvm_cpuid2, entries)", Unsafe.SizeOf<KvmCpuid2Header>()),
        ("kvm_userspace_memory_region", "sizeof(struct kvm_userspace_memory_region)", Unsafe.SizeOf<KvmUserspaceMemoryRegion>()),
        ("kvm_userspace_memory_region.guest_phys_addr", "offsetof(struct kvm_userspace_memory_region, guest_phys_addr)", Offset<KvmUserspaceMemoryRegion>("GuestPhysAddr")),
        ("kvm_userspace_memory_region.userspace_addr", "offsetof(struct kvm_userspace_memory_region, userspace_addr)", Offset<KvmUserspaceMemoryRegion>("UserspaceAddr")),
        ("kvm_pit_config", "sizeof(struct kvm_pit_config)", Unsafe.SizeOf<KvmPitConfig>()),
        ("kvm_ioeventfd", "sizeof(struct kvm_ioeventfd)", Unsafe.SizeOf<KvmIoeventfd>()),
        ("kvm_ioeventfd.addr", "offsetof(struct kvm_ioeventfd, addr)", Offset<KvmIoeventfd>("Addr")),
        ("kvm_ioeventfd.len", "offsetof(struct kvm_ioeventfd, len)", Offset<KvmIoeventfd>("Len")),
        ("kvm_ioeventfd.fd", "offsetof(struct kvm_ioeventfd, fd)", Offset<KvmIoeventfd>("Fd")),
        ("kvm_ioeventfd.flags", "offsetof(struct kvm_ioeventfd, flags)", Offset<KvmIoeventfd>("Flags")),
        ("kvm_irqfd", "sizeof(struct kvm_irqfd)", Unsafe.SizeOf<KvmIrqfd>()),
        ("kvm_irqfd.gsi", "offsetof(struct kvm_irqfd, gsi)", Offset<KvmIrqfd>("Gsi")),
        ("kvm_irqfd.resamplefd", "offsetof(struct kvm_irqfd, resamplefd)", Offset<KvmIrqfd>("Resamplefd")),
        ("kvm_lapic_state", "sizeof(struct kvm_lapic_state)", Unsafe.SizeOf<KvmLapicState>()),
        ("kvm_irq_level", "sizeof(struct kvm_irq_level)", Unsafe.SizeOf<KvmIrqLevel>()),
        // struct kvm_run, read in place through KvmRunArea's offsets.
        ("kvm_run.immediate_exit", "offsetof(struct kvm_run, immediate_exit)", KvmRunArea.ImmediateExitOffset),
        ("kvm_run.exit_reason", "offsetof(struct kvm_run, exit_reason)", KvmRunArea.ExitReasonOffset),
        ("kvm_run.io.direction", "offsetof(struct kvm_run, io.direction)", KvmRunArea.IoDirectionOffset),
        ("kvm_run.io.size", "offsetof(struct kvm_run, io.size)", KvmRunArea.IoSizeOffset),
        ("kvm_run.io.port", "offsetof(struct kvm_run, io.port)", KvmRunArea.IoPortOffset),
        ("kvm_run.io.count", "offsetof(struct kvm_run, io.count)", KvmRunArea.IoCountOffset),
        ("kvm_run.io.data_offset", "offsetof(struct kvm_run, io.data_offset)", KvmRunArea.IoDataOffsetOffset),
        ("kvm_run.mmio.phys_addr", "offsetof(struct kvm_run, mmio.phys_addr)", KvmRunArea.MmioPhysAddrOffset),
        ("kvm_run.mmio.data", "offsetof(struct kvm_run, mmio.data)", KvmRunArea.MmioDataOffset),
        ("kvm_run.mmio.len", "offsetof(struct kvm_run, mmio.len)", KvmRunArea.MmioLenOffset),
        ("kvm_run.mmio.is_write", "offsetof(struct kvm_run, mmio.is_write)", KvmRunArea.MmioIsWriteOffset),
        ("kvm_run.fail_entry.reason", "offsetof(struct kvm_run, fail_entry.hardware_entry_failure_reason)", KvmRunArea.FailEntryReasonOffset),
        ("kvm_run.internal.suberror", "offsetof(struct kvm_run, internal.suberror)", KvmRunArea.InternalSuberrorOffset),
        ("kvm_run.internal.ndata", "offsetof(struct kvm_run, internal.ndata)", KvmRunArea.InternalNdataOffset),
        ("kvm_run.internal.data", "offsetof(struct kvm_run, internal.data)", KvmRunArea.InternalDataOffset),
        ("kvm_run.system_event.type", "offsetof(struct kvm_run, system_event.type)", KvmRunArea.SystemEventTypeOffset),
        // struct boot_params (asm/bootparam.h), written by ZeroPage.
        ("boot_params", "sizeof(struct boot_params)", ZeroPage.Size),
        ("boot_params.acpi_rsdp_addr", "offsetof(struct boot_params, acpi_rsdp_addr)", ZeroPage.AcpiRsdpAddr),
        ("boot_params.ext_ramdisk_image", "offsetof(struct boot_params, ext_ramdisk_image)", ZeroPage.ExtRamdiskImage),
        ("boot_params.ext_ramdisk_size", "offsetof(struct boot_params, ext_ramdisk_size)", ZeroPage.ExtRamdiskSize),
        ("boot_params.ext_cmd_line_ptr", "offsetof(struct boot_params, ext_cmd_line_ptr)", ZeroPage.ExtCmdLinePtr),
        ("boot_params.e820_entries", "offsetof(struct boot_params, e820_entries)", ZeroPage.E820Entries),
        ("boot_params.sentinel", "offsetof(struct boot_params, sentinel)", ZeroPage.Sentinel),
        ("boot_params.hdr", "offsetof(struct boot_params, hdr)", ZeroPage.Hdr),
        ("boot_params.e820_table", "offsetof(struct boot_params, e820_table)", ZeroPage.E820Table),
        ("boot_e820_entry", "sizeof(struct boot_e820_entry)", ZeroPage.E820EntrySize),
        ("hdr.setup_sects", "offsetof(struct boot_params, hdr.setup_sects)", ZeroPage.SetupSects),
        ("hdr.vid_mode", "offsetof(struct boot_params, hdr.vid_mode)", ZeroPage.VidMode),
        ("hdr.boot_flag", "offsetof(struct boot_params, hdr.boot_flag)", ZeroPage.BootFlag),
        ("hdr.jump", "offsetof(struct boot_params, hdr.jump)", ZeroPage.Jump),
        ("hdr.header", "offsetof(struct boot_params, hdr.header)", ZeroPage.Header),
        ("hdr.version", "offsetof(struct boot_params, hdr.version)", ZeroPage.Version),
        ("hdr.type_of_loader", "offsetof(struct boot_params, hdr.type_of_loader)", ZeroPage.TypeOfLoader),
        ("hdr.loadflags", "offsetof(struct boot_params, hdr.loadflags)", ZeroPage.LoadFlags),
        ("hdr.code32_start", "offsetof(struct boot_params, hdr.code32_start)", ZeroPage.Code32Start),
        ("hdr.ramdisk_image", "offsetof(struct boot_params, hdr.ramdisk_image)", ZeroPage.RamdiskImage),
        ("hdr.ramdisk_size", "offsetof(struct boot_params, hdr.ramdisk_size)", ZeroPage.RamdiskSize),
        ("hdr.heap_end_ptr", "offsetof(struct boot_params, hdr.heap_end_ptr)", ZeroPage.HeapEndPtr),
        ("hdr.cmd_line_ptr", "offsetof(struct boot_params, hdr.cmd_line_ptr)", ZeroPage.CmdLinePtr),
        ("hdr.initrd_addr_max", "offsetof(struct boot_params, hdr.initrd_addr_max)", ZeroPage.InitrdAddrMax),
        ("hdr.kernel_alignment", "offsetof(struct boot_params, hdr.kernel_alignment)", ZeroPage.KernelAlignment),
        ("hdr.relocatable_kernel", "offsetof(struct boot_params, hdr.relocatable_kernel)", ZeroPage.RelocatableKernel),
        ("hdr.xloadflags", "offsetof(struct boot_params, hdr.xloadflags)", ZeroPage.XLoadFlags),
        ("hdr.cmdline_size", "offsetof(struct boot_params, hdr.cmdline_size)", ZeroPage.CmdlineSize),
        ("hdr.setup_data", "offsetof(struct boot_params, hdr.setup_data)", ZeroPage.SetupData),
        ("hdr.pref_address", "offsetof(struct boot_params, hdr.pref_address)", ZeroPage.PrefAddress),
        ("hdr.init_size", "offsetof(struct boot_params, hdr.init_size)", ZeroPage.InitSize),
    ];

    private static readonly (string Name, long CSharp)[] Constants =
    [
        .. KvmIoctls.All.Select(kv => (kv.Key, (long)kv.Value)),
        .. Enum.GetValues<KvmCapability>().Select(c => ($"KVM_CAP_{CapName(c)}", (long)c)),
        ("KVM_EXIT_IO", (long)KvmExitReason.Io), ("KVM_EXIT_MMIO", (long)KvmExitReason.Mmio),
        ("KVM_EXIT_HLT", (long)KvmExitReason.Hlt), ("KVM_EXIT_SHUTDOWN", (long)KvmExitReason.Shutdown),
        ("KVM_EXIT_FAIL_ENTRY", (long)KvmExitReason.FailEntry), ("KVM_EXIT_INTR", (long)KvmExitReason.Intr),
        ("KVM_EXIT_INTERNAL_ERROR", (long)KvmExitReason.InternalError), ("KVM_EXIT_SYSTEM_EVENT", (long)KvmExitReason.SystemEvent),
    ];

    private static long Offset<T>(string field) => Marshal.OffsetOf<T>(field).ToInt64();

    private static string CapName(KvmCapability c) => c switch
    {
        KvmCapability.Irqchip => "IRQCHIP", KvmCapability.Hlt => "HLT", KvmCapability.UserMemory => "USER_MEMORY",
        KvmCapability.SetTssAddr => "SET_TSS_ADDR", KvmCapability.ExtCpuid => "EXT_CPUID", KvmCapability.NrVcpus => "NR_VCPUS",
        KvmCapability.Pit2 => "PIT2", KvmCapability.Irqfd => "IRQFD", KvmCapability.Ioeventfd => "IOEVENTFD",
        KvmCapability.MaxVcpus => "MAX_VCPUS", KvmCapability.ImmediateExit => "IMMEDIATE_EXIT",
        _ => throw new ArgumentOutOfRangeException(nameof(c)),
    };

    public static IEnumerable<object[]> AllChecks =>
        Checks.Select(c => new object[] { c.Name }).Concat(Constants.Select(c => new object[] { c.Name }));

    private static readonly Lazy<Dictionary<string, long>> FromHeaders = new(CompileAndRun);

    [KvmHeaderTheory]
    [MemberData(nameof(AllChecks))]
    public void Matches_the_kernel_header(string name)
    {
        long expected = FromHeaders.Value[name];
        long actual = Checks.Where(c => c.Name == name).Select(c => c.CSharp)
            .Concat(Constants.Where(c => c.Name == name).Select(c => c.CSharp)).Single();
        Assert.Equal(expected, actual);
    }

    private static Dictionary<string, long> CompileAndRun()
    {
        using var dir = new TempDir();
        string src = dir.File("layout.c"), exe = dir.File("layout");
        var lines = Checks.Select(c => $"    printf(\"%s %lld\\n\", \"{c.Name}\", (long long)({c.CExpression}));")
            .Concat(Constants.Select(c => $"    printf(\"%s %lld\\n\", \"{c.Name}\", (long long)(unsigned int)({c.Name}));"));
        File.WriteAllText(src, $$"""
            #include <stddef.h>
            #include <stdio.h>
            #include <linux/kvm.h>
            #include <asm/bootparam.h>
            int main(void) {
            {{string.Join('\n', lines)}}
                return 0;
            }
            """);
        Run("gcc", $"-o {exe} {src}");
        return Run(exe, "").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => long.Parse(p[1]));
    }

    private static string Run(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed: {stderr}");
        return stdout.Result;
    }
}

/// <summary>A [Theory] skipped, with the reason, when gcc or the kernel headers are missing.</summary>
public sealed class KvmHeaderTheoryAttribute : TheoryAttribute
{
    public KvmHeaderTheoryAttribute()
    {
        if (!File.Exists("/usr/bin/gcc")) Skip = "/usr/bin/gcc is not installed";
        else if (!File.Exists("/usr/include/linux/kvm.h")) Skip = "/usr/include/linux/kvm.h is missing (install linux-libc-dev)";
    }
}
