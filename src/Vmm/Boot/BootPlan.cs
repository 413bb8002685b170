namespace Spinbox.Vmm.Boot;

/// <summary>How the vCPUs start once guest memory holds the boot image.</summary>
/// <param name="Mode">Processor mode of the starting vCPUs.</param>
/// <param name="Entry">Guest-physical entry address.</param>
/// <param name="StackPointer">Initial RSP.</param>
/// <param name="Rsi">Initial RSI (Linux: the boot_params address).</param>
/// <param name="OnlyBootCpuStarts">Linux: the other vCPUs wait for the boot CPU's INIT/SIPI. Otherwise every
/// vCPU starts at <paramref name="Entry"/> with its index in RDI.</param>
public sealed record BootPlan(CpuMode Mode, ulong Entry, ulong StackPointer, ulong Rsi, bool OnlyBootCpuStarts);

/// <summary>What the VMM told a Linux guest: useful for logs and for checking the guest's own report.</summary>
/// <param name="KernelFormat">"bzImage" or "ELF vmlinux".</param>
/// <param name="Cmdline">The exact kernel command line passed.</param>
/// <param name="E820">The memory map passed.</param>
/// <param name="InitrdAddress">Where the initrd was placed (0 when none).</param>
/// <param name="InitrdSize">Its size in bytes.</param>
public sealed record LinuxBootInfo(string KernelFormat, string Cmdline, IReadOnlyList<E820Entry> E820, ulong InitrdAddress, ulong InitrdSize);
