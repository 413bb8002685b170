using System.Globalization;
using Spinbox.Virtio;

namespace Spinbox.Vmm.Tcg;

/// <summary>Builds QEMU's argument list for the tcg backend (checked against QEMU 10's option and device help).</summary>
public static class QemuCommandLine
{
    public const uint BlockDeviceType = 2, VsockDeviceType = 19;

    /// <summary>QEMU caps a virtqueue at 1024 entries (VIRTQUEUE_MAX_SIZE).</summary>
    private const int QemuMaxQueueSize = 1024;

    /// <param name="socketPaths">The vhost-user socket of each device, in config.Devices order.</param>
    public static IReadOnlyList<string> Build(TcgVmConfig config, IReadOnlyList<string> socketPaths)
    {
        if (socketPaths.Count != config.Devices.Count) throw new ArgumentException("one socket path per device", nameof(socketPaths));
        string mem = (config.MemoryBytes >> 20).ToString(CultureInfo.InvariantCulture) + "M";
        var args = new List<string>
        {
            "-M", "q35", "-accel", "tcg", "-cpu", "max",
            "-smp", config.VcpuCount.ToString(CultureInfo.InvariantCulture),
            "-m", mem,
            // Guest RAM must be a shareable fd: vhost-user back ends map it from SET_MEM_TABLE.
            "-object", $"memory-backend-memfd,id=mem,size={mem},share=on",
            "-numa", "node,memdev=mem",
            // -display none, not -nographic: -nographic also points SeaBIOS at the serial port,
            // which puts firmware banners and escape codes into the console log.
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        };
        if (config.FirmwarePath != null) args.AddRange(["-bios", config.FirmwarePath]);
        args.AddRange(["-kernel", config.KernelPath]);
        if (config.InitrdPath != null) args.AddRange(["-initrd", config.InitrdPath]);
        args.AddRange(["-append", config.KernelCommandLine]);
        args.AddRange(["-chardev", $"file,id=console,path={Escape(config.ConsoleLogPath)}", "-serial", "chardev:console"]);
        var drives = config.QemuDrives ?? [];
        for (int i = 0; i < drives.Count; i++)
        {
            var d = drives[i];
            args.AddRange(["-drive", $"file={Escape(d.Path)},if=none,id=drive{i},format=raw,readonly={(d.ReadOnly ? "on" : "off")},cache=unsafe,aio=threads"]);
            args.AddRange(["-device", $"virtio-blk-pci,drive=drive{i},serial={d.Serial}"]);
        }
        for (int i = 0; i < config.Devices.Count; i++)
        {
            var device = config.Devices[i];
            string chardev = $"vhost{i}";
            args.AddRange(["-chardev", $"socket,id={chardev},path={Escape(socketPaths[i])}"]);
            args.AddRange(["-device", DeviceArgument(device, chardev)]);
        }
        return args;
    }

    private static string DeviceArgument(IVirtioDevice device, string chardev) => device.DeviceType switch
    {
        // num-queues defaults to one per vCPU; the device decides. queue-size defaults to 128.
        BlockDeviceType => $"vhost-user-blk-pci,chardev={chardev},num-queues={device.QueueCount}," +
                           $"queue-size={Math.Min((int)device.MaxQueueSize, QemuMaxQueueSize)}",
        // The guest CID comes from the back end's config space (GET_CONFIG); QEMU keeps the event queue.
        VsockDeviceType => $"vhost-user-vsock-pci,chardev={chardev}",
        _ => throw new ArgumentException($"device type {device.DeviceType} has no vhost-user PCI front end"),
    };

    /// <summary>QEMU option values separate with ',' — a literal comma is written twice.</summary>
    private static string Escape(string value) => value.Replace(",", ",,");
}
