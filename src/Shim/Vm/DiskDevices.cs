using Microsoft.Extensions.Logging;
using Spinbox.Virtio;
using Spinbox.Virtio.Devices.Blk;

namespace Spinbox.Shim.Vm;

/// <summary>Our block device model for each disk a backend serves itself.</summary>
internal static class DiskDevices
{
    public static List<IVirtioDevice> Create(IEnumerable<DiskSpec> disks, ILoggerFactory loggers) =>
        disks.Select(d => (IVirtioDevice)new VirtioBlkDevice(d.Path, d.ReadOnly, d.Serial, loggers.CreateLogger("blk"))).ToList();
}
