using System.Runtime.InteropServices;

namespace Spinbox.Vmm.Kvm;

/// <summary>The /dev/kvm system fd: API version, capabilities, supported CPUID, VM creation.</summary>
public sealed unsafe class KvmSystem : IDisposable
{
    public const int ExpectedApiVersion = 12;
    public const string DefaultDevicePath = "/dev/kvm";
    private const int MaxCpuidEntries = 256;

    private int _fd;

    private KvmSystem(int fd) => _fd = fd;

    /// <summary>Opens /dev/kvm and checks the API version; throws KvmException naming the problem.</summary>
    public static KvmSystem Open(string devicePath = DefaultDevicePath)
    {
        int fd = Native.OpenReadWrite(devicePath);
        var system = new KvmSystem(fd);
        try
        {
            int version = system.ApiVersion;
            if (version != ExpectedApiVersion)
                throw new KvmException($"{devicePath}: KVM API version is {version}, this VMM needs {ExpectedApiVersion}");
            return system;
        }
        catch
        {
            system.Dispose();
            throw;
        }
    }

    public int ApiVersion => Native.Ioctl(_fd, KvmIoctls.GetApiVersion, 0, "KVM_GET_API_VERSION");

    /// <summary>KVM_CHECK_EXTENSION: 0 when absent, else a capability-specific positive value.</summary>
    public int CheckExtension(KvmCapability capability)
    {
        int rc = Native.TryIoctl(_fd, KvmIoctls.CheckExtension, (int)capability);
        return rc < 0 ? 0 : rc;
    }

    /// <summary>Throws when any of the capabilities is missing, naming each one.</summary>
    public void RequireExtensions(params KvmCapability[] capabilities)
    {
        var missing = capabilities.Where(c => CheckExtension(c) <= 0).ToArray();
        if (missing.Length > 0)
            throw new KvmException($"/dev/kvm lacks required capabilities: {string.Join(", ", missing)}");
    }

    public int VcpuMmapSize => Native.Ioctl(_fd, KvmIoctls.GetVcpuMmapSize, 0, "KVM_GET_VCPU_MMAP_SIZE");

    /// <summary>KVM_GET_SUPPORTED_CPUID: what the host and KVM can expose to a guest.</summary>
    public KvmCpuidEntry2[] GetSupportedCpuid()
    {
        int size = sizeof(KvmCpuid2Header) + MaxCpuidEntries * sizeof(KvmCpuidEntry2);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            var header = (KvmCpuid2Header*)buffer;
            header->Nent = MaxCpuidEntries;
            Native.Ioctl(_fd, KvmIoctls.GetSupportedCpuid, (nint)buffer, "KVM_GET_SUPPORTED_CPUID");
            uint count = Math.Min(header->Nent, MaxCpuidEntries);
            return new ReadOnlySpan<KvmCpuidEntry2>(buffer + sizeof(KvmCpuid2Header), (int)count).ToArray();
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    public KvmVmFd CreateVm()
    {
        int vmFd = Native.Ioctl(_fd, KvmIoctls.CreateVm, 0, "KVM_CREATE_VM");
        return new KvmVmFd(vmFd, VcpuMmapSize);
    }

    public void Dispose()
    {
        Native.Close(Interlocked.Exchange(ref _fd, -1));
    }
}
