using Spinbox.Virtio;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;
using Spinbox.Vmm.Tcg;

namespace Spinbox.Vmm.Tests.Tcg;

public sealed class QemuCommandLineTests
{
    /// <summary>Only its identity matters to the command line.</summary>
    private sealed class ShapeOnlyDevice(uint type, int queues, ushort maxQueueSize) : IVirtioDevice
    {
        public uint DeviceType => type;
        public ulong DeviceFeatures => 1UL << 32;
        public int QueueCount => queues;
        public ushort MaxQueueSize => maxQueueSize;
        public void ReadConfig(uint offset, Span<byte> data) => data.Clear();
        public void WriteConfig(uint offset, ReadOnlySpan<byte> data) { }
        public void Activate(IGuestMemory memory, ulong ackedFeatures, IReadOnlyList<Virtqueue> q, IInterruptSignal interrupt) { }
        public void ProcessQueue(int queueIndex) { }
        public void Reset() { }
        public void Dispose() { }
    }

    private static TcgVmConfig Config(params IVirtioDevice[] devices) =>
        new("/usr/bin/qemu-system-x86_64", "/boot/vmlinux", "/tmp/initrd,x", "console=ttyS0 quiet", 2, 512UL << 20,
            "/tmp/console.log", "/tmp/run", devices);

    [Fact]
    public void BuildsATcgQ35MachineWithSharedMemfdRam()
    {
        var args = QemuCommandLine.Build(Config(), []);
        string line = string.Join(' ', args);
        Assert.Contains("-M q35 -accel tcg -cpu max -smp 2 -m 512M", line);
        Assert.Contains("-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem", line);
        Assert.Contains("-nodefaults -no-user-config -display none -no-reboot", line);
        Assert.Contains("-initrd /tmp/initrd,x", line); // -initrd takes a plain path, not an option list
        Assert.Equal("console=ttyS0 quiet", args[args.ToList().IndexOf("-append") + 1]);
        Assert.Contains("-chardev file,id=console,path=/tmp/console.log -serial chardev:console", line);
        Assert.DoesNotContain("-bios", args);
        var qboot = QemuCommandLine.Build(Config() with { FirmwarePath = "/q.rom" }, []);
        Assert.Equal("/q.rom", qboot[qboot.ToList().IndexOf("-bios") + 1]);
    }

    [Fact]
    public void AttachesBlockAndVsockDevicesOverVhostUser()
    {
        var args = QemuCommandLine.Build(Config(new ShapeOnlyDevice(2, 1, 256), new ShapeOnlyDevice(19, 3, 128)),
            ["/run/a,b.sock", "/run/v.sock"]);
        string line = string.Join(' ', args);
        Assert.Contains("-chardev socket,id=vhost0,path=/run/a,,b.sock -device vhost-user-blk-pci,chardev=vhost0,num-queues=1,queue-size=256", line);
        Assert.Contains("-chardev socket,id=vhost1,path=/run/v.sock -device vhost-user-vsock-pci,chardev=vhost1", line);
    }

    [Fact]
    public void RejectsBadConfigNamingTheField()
    {
        var bad = Config() with { MemoryBytes = 100UL << 20 | 1, KernelPath = "/etc/hostname", InitrdPath = null };
        Assert.Contains("MemoryBytes", Assert.Throws<ArgumentException>(bad.Validate).Message);
        var rng = Config(new ShapeOnlyDevice(4, 1, 64)) with { KernelPath = "/etc/hostname", InitrdPath = null };
        Assert.Contains("device type 4", Assert.Throws<ArgumentException>(rng.Validate).Message);
    }
}
