using Spinbox.Virtio;

namespace Spinbox.Vmm.Tcg;

/// <summary>Everything the tcg backend needs to start one VM: QEMU as the CPU, spinbox devices over vhost-user.</summary>
/// <param name="QemuBinary">qemu-system-x86_64 (QEMU 10: vhost-user-vsock needs it).</param>
/// <param name="KernelPath">ELF vmlinux with a PVH note (QEMU loads it directly).</param>
/// <param name="InitrdPath">initramfs, or null for none.</param>
/// <param name="KernelCommandLine">e.g. "console=ttyS0 panic=-1 quiet".</param>
/// <param name="VcpuCount">1..64.</param>
/// <param name="MemoryBytes">Guest RAM; a multiple of 2 MiB, at least 64 MiB.</param>
/// <param name="ConsoleLogPath">The guest serial console is written here (truncated at start).</param>
/// <param name="RuntimeDirectory">Holds the vhost-user sockets; created if missing.</param>
/// <param name="Devices">Attached in order as vhost-user PCI devices; the caller keeps ownership.</param>
/// <param name="FirmwarePath">
/// -bios image, or null for QEMU's default (SeaBIOS). qboot (<see cref="QbootFirmware"/>) skips SeaBIOS's
/// probing of every virtio disk, which under TCG costs a full vhost-user start/stop per disk.
/// </param>
public sealed record TcgVmConfig(
    string QemuBinary,
    string KernelPath,
    string? InitrdPath,
    string KernelCommandLine,
    int VcpuCount,
    ulong MemoryBytes,
    string ConsoleLogPath,
    string RuntimeDirectory,
    IReadOnlyList<IVirtioDevice> Devices,
    string? FirmwarePath = null,
    IReadOnlyList<QemuDrive>? QemuDrives = null)
{
    /// <summary>Where Debian's QEMU ships qboot.</summary>
    public const string QbootFirmware = "/usr/share/qemu/qboot.rom";

    public const ulong MinMemoryBytes = 64UL << 20;
    public const ulong MemoryGranule = 2UL << 20;

    /// <summary>Throws ArgumentException naming the first bad field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(QemuBinary)) throw new ArgumentException("QemuBinary is empty", nameof(QemuBinary));
        if (!File.Exists(KernelPath)) throw new ArgumentException($"KernelPath: no file at {KernelPath}", nameof(KernelPath));
        if (InitrdPath != null && !File.Exists(InitrdPath)) throw new ArgumentException($"InitrdPath: no file at {InitrdPath}", nameof(InitrdPath));
        if (KernelCommandLine.Contains('\n')) throw new ArgumentException("KernelCommandLine contains a newline", nameof(KernelCommandLine));
        if (VcpuCount < 1 || VcpuCount > 64) throw new ArgumentException($"VcpuCount {VcpuCount} is not in 1..64", nameof(VcpuCount));
        if (MemoryBytes < MinMemoryBytes || MemoryBytes % MemoryGranule != 0)
            throw new ArgumentException($"MemoryBytes {MemoryBytes} must be a multiple of 2 MiB and at least 64 MiB", nameof(MemoryBytes));
        if (FirmwarePath != null && !File.Exists(FirmwarePath)) throw new ArgumentException($"FirmwarePath: no file at {FirmwarePath}", nameof(FirmwarePath));
        if (string.IsNullOrWhiteSpace(ConsoleLogPath)) throw new ArgumentException("ConsoleLogPath is empty", nameof(ConsoleLogPath));
        if (string.IsNullOrWhiteSpace(RuntimeDirectory)) throw new ArgumentException("RuntimeDirectory is empty", nameof(RuntimeDirectory));
        foreach (var d in QemuDrives ?? [])
        {
            if (!File.Exists(d.Path)) throw new ArgumentException($"QemuDrives: no file at {d.Path}", nameof(QemuDrives));
            if (d.Serial.Length is 0 or > 20 || !d.Serial.All(char.IsAsciiLetterOrDigit))
                throw new ArgumentException($"QemuDrives: serial \"{d.Serial}\" must be 1..20 ASCII letters or digits", nameof(QemuDrives));
        }
        foreach (var d in Devices)
            if (d.DeviceType is not (QemuCommandLine.BlockDeviceType or QemuCommandLine.VsockDeviceType))
                throw new ArgumentException($"Devices: device type {d.DeviceType} has no vhost-user PCI front end in QEMU (only block 2 and vsock 19)", nameof(Devices));
    }
}

/// <summary>
/// A raw disk that QEMU's own virtio-blk-pci serves. Needed for disks whose pages the guest executes:
/// TCG only drops stale translated code for guest memory that QEMU itself writes, and a vhost-user
/// back end writes guest RAM behind its back (measured: binaries run from a vhost-user disk crashed).
/// </summary>
public sealed record QemuDrive(string Path, string Serial, bool ReadOnly);
