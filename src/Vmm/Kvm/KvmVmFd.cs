namespace Spinbox.Vmm.Kvm;

/// <summary>A VM fd: memory slots, in-kernel irqchip and PIT, ioeventfd/irqfd, vCPU creation.</summary>
public sealed unsafe class KvmVmFd : IDisposable
{
    private const uint IoeventfdFlagDatamatch = 1, IoeventfdFlagPio = 2;
    private const uint PitSpeakerDummy = 1;

    private int _fd;
    private readonly int _vcpuMmapSize;

    internal KvmVmFd(int fd, int vcpuMmapSize)
    {
        _fd = fd;
        _vcpuMmapSize = vcpuMmapSize;
    }

    /// <summary>Maps [hostAddress, +size) at guest-physical <paramref name="gpa"/> as memory slot <paramref name="slot"/>.</summary>
    public void SetUserMemoryRegion(uint slot, ulong gpa, ulong size, nint hostAddress)
    {
        var region = new KvmUserspaceMemoryRegion
        {
            Slot = slot, Flags = 0, GuestPhysAddr = gpa, MemorySize = size, UserspaceAddr = (ulong)hostAddress,
        };
        Native.Ioctl(_fd, KvmIoctls.SetUserMemoryRegion, ref region, $"KVM_SET_USER_MEMORY_REGION (slot {slot}, gpa 0x{gpa:x})");
    }

    /// <summary>Three pages KVM needs for real-mode emulation on Intel; must not overlap RAM or MMIO.</summary>
    public void SetTssAddress(ulong address) =>
        Native.Ioctl(_fd, KvmIoctls.SetTssAddr, (nint)address, "KVM_SET_TSS_ADDR");

    /// <summary>In-kernel PIC, IOAPIC and local APICs.</summary>
    public void CreateIrqchip() => Native.Ioctl(_fd, KvmIoctls.CreateIrqchip, 0, "KVM_CREATE_IRQCHIP");

    /// <summary>In-kernel i8254 PIT, with the speaker port 0x61 as a stub.</summary>
    public void CreatePit2()
    {
        var config = new KvmPitConfig { Flags = PitSpeakerDummy };
        Native.Ioctl(_fd, KvmIoctls.CreatePit2, ref config, "KVM_CREATE_PIT2");
    }

    /// <summary>Guest writes of <paramref name="length"/> bytes at <paramref name="address"/> (equal to datamatch) signal the eventfd instead of exiting.</summary>
    public void RegisterIoeventfd(EventFd eventFd, ulong address, uint length, ulong? datamatch, bool portIo)
    {
        var request = new KvmIoeventfd
        {
            Addr = address, Len = length, Fd = eventFd.Fd, Datamatch = datamatch ?? 0,
            Flags = (datamatch.HasValue ? IoeventfdFlagDatamatch : 0) | (portIo ? IoeventfdFlagPio : 0),
        };
        Native.Ioctl(_fd, KvmIoctls.Ioeventfd, ref request, $"KVM_IOEVENTFD (0x{address:x})");
    }

    /// <summary>A write to the eventfd raises guest interrupt line <paramref name="gsi"/> (needs the in-kernel irqchip).</summary>
    public void RegisterIrqfd(EventFd eventFd, uint gsi)
    {
        var request = new KvmIrqfd { Fd = (uint)eventFd.Fd, Gsi = gsi };
        Native.Ioctl(_fd, KvmIoctls.Irqfd, ref request, $"KVM_IRQFD (gsi {gsi})");
    }

    public KvmVcpuFd CreateVcpu(int id)
    {
        int vcpuFd = Native.Ioctl(_fd, KvmIoctls.CreateVcpu, id, $"KVM_CREATE_VCPU ({id})");
        try
        {
            return new KvmVcpuFd(id, vcpuFd, _vcpuMmapSize);
        }
        catch
        {
            Native.Close(vcpuFd);
            throw;
        }
    }

    public void Dispose() => Native.Close(Interlocked.Exchange(ref _fd, -1));
}
