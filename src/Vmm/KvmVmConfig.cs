using Microsoft.Extensions.Logging;
using Spinbox.Virtio;
using Spinbox.Vmm.Boot;

namespace Spinbox.Vmm;

/// <summary>What to run in a <see cref="KvmVm"/>: a Linux kernel (or a flat test image), its size and devices.</summary>
public sealed class KvmVmConfig
{
    public const ulong DefaultMemoryBytes = 256UL << 20;

    /// <summary>bzImage (boot protocol 2.10+) or ELF vmlinux. Required unless <see cref="FlatImage"/> is set.</summary>
    public string? KernelPath { get; init; }

    public string? InitrdPath { get; init; }

    /// <summary>Kernel command line; the virtio-mmio device entries are appended to it.</summary>
    public string Cmdline { get; init; } = "";

    /// <summary>A freestanding guest image instead of a Linux kernel (test guests, benchmarks).</summary>
    public FlatImage? FlatImage { get; init; }

    public int Vcpus { get; init; } = 1;

    public ulong MemoryBytes { get; init; } = DefaultMemoryBytes;

    /// <summary>Host file the guest's serial console (COM1) is appended to; null keeps it in memory only.</summary>
    public string? ConsoleLogPath { get; init; }

    /// <summary>Virtio devices, attached in order at 0xd0000000 + 4 KiB * index, IRQ 5 + index.</summary>
    public IReadOnlyList<IVirtioDevice> Devices { get; init; } = [];

    /// <summary>In-kernel PIC/IOAPIC/LAPIC and PIT. Default: on for Linux, off for flat images (which then
    /// stop on HLT: with an irqchip, HLT waits in the kernel for an interrupt).</summary>
    public bool? InKernelIrqchip { get; init; }

    public ILogger? Logger { get; init; }

    /// <summary>The KVM device node; tests may point it elsewhere to check the error.</summary>
    public string KvmDevicePath { get; init; } = Kvm.KvmSystem.DefaultDevicePath;

    internal bool UsesIrqchip => InKernelIrqchip ?? FlatImage is null;

    /// <summary>Throws ArgumentException naming the first field that is unusable.</summary>
    public void Validate()
    {
        if (FlatImage is null && string.IsNullOrEmpty(KernelPath))
            throw new ArgumentException("KvmVmConfig.KernelPath is required (or set FlatImage)", nameof(KernelPath));
        if (Vcpus < 1 || Vcpus > MpTable.MaxVcpus)
            throw new ArgumentException($"KvmVmConfig.Vcpus is {Vcpus}; it must be 1..{MpTable.MaxVcpus}", nameof(Vcpus));
        if (MemoryBytes < (1UL << 20) || MemoryBytes % 4096 != 0)
            throw new ArgumentException($"KvmVmConfig.MemoryBytes is {MemoryBytes}; it must be at least 1 MiB and a multiple of 4096", nameof(MemoryBytes));
        int maxDevices = (int)(Memory.GuestAddressMap.LastIoApicPin - Memory.GuestAddressMap.FirstVirtioIrq + 1);
        if (Devices.Count > maxDevices)
            throw new ArgumentException($"KvmVmConfig.Devices has {Devices.Count} devices; at most {maxDevices} have an interrupt line", nameof(Devices));
    }
}
