using System.Runtime.CompilerServices;

namespace Spinbox.Vmm.Kvm;

/// <summary>KVM ioctl request numbers (linux/kvm.h); each is checked against the header by a test.</summary>
public static unsafe class KvmIoctls
{
    private const uint Kvmio = 0xAE;

    // System fd.
    public static readonly uint GetApiVersion = IoctlNumber.Io(Kvmio, 0x00);
    public static readonly uint CreateVm = IoctlNumber.Io(Kvmio, 0x01);
    public static readonly uint CheckExtension = IoctlNumber.Io(Kvmio, 0x03);
    public static readonly uint GetVcpuMmapSize = IoctlNumber.Io(Kvmio, 0x04);
    public static readonly uint GetSupportedCpuid = IoctlNumber.IoWR(Kvmio, 0x05, sizeof(KvmCpuid2Header));

    // VM fd.
    public static readonly uint CreateVcpu = IoctlNumber.Io(Kvmio, 0x41);
    public static readonly uint SetUserMemoryRegion = IoctlNumber.IoW(Kvmio, 0x46, sizeof(KvmUserspaceMemoryRegion));
    public static readonly uint SetTssAddr = IoctlNumber.Io(Kvmio, 0x47);
    public static readonly uint SetIdentityMapAddr = IoctlNumber.IoW(Kvmio, 0x48, sizeof(ulong));
    public static readonly uint CreateIrqchip = IoctlNumber.Io(Kvmio, 0x60);
    public static readonly uint IrqLine = IoctlNumber.IoW(Kvmio, 0x61, sizeof(KvmIrqLevel));
    public static readonly uint Irqfd = IoctlNumber.IoW(Kvmio, 0x76, sizeof(KvmIrqfd));
    public static readonly uint CreatePit2 = IoctlNumber.IoW(Kvmio, 0x77, sizeof(KvmPitConfig));
    public static readonly uint Ioeventfd = IoctlNumber.IoW(Kvmio, 0x79, sizeof(KvmIoeventfd));

    // vCPU fd.
    public static readonly uint Run = IoctlNumber.Io(Kvmio, 0x80);
    public static readonly uint GetRegs = IoctlNumber.IoR(Kvmio, 0x81, sizeof(KvmRegs));
    public static readonly uint SetRegs = IoctlNumber.IoW(Kvmio, 0x82, sizeof(KvmRegs));
    public static readonly uint GetSregs = IoctlNumber.IoR(Kvmio, 0x83, sizeof(KvmSregs));
    public static readonly uint SetSregs = IoctlNumber.IoW(Kvmio, 0x84, sizeof(KvmSregs));
    public static readonly uint GetMsrs = IoctlNumber.IoWR(Kvmio, 0x88, sizeof(KvmMsrsHeader));
    public static readonly uint SetMsrs = IoctlNumber.IoW(Kvmio, 0x89, sizeof(KvmMsrsHeader));
    public static readonly uint GetFpu = IoctlNumber.IoR(Kvmio, 0x8c, sizeof(KvmFpu));
    public static readonly uint SetFpu = IoctlNumber.IoW(Kvmio, 0x8d, sizeof(KvmFpu));
    public static readonly uint GetLapic = IoctlNumber.IoR(Kvmio, 0x8e, sizeof(KvmLapicState));
    public static readonly uint SetLapic = IoctlNumber.IoW(Kvmio, 0x8f, sizeof(KvmLapicState));
    public static readonly uint SetCpuid2 = IoctlNumber.IoW(Kvmio, 0x90, sizeof(KvmCpuid2Header));

    /// <summary>Every request number by its header name, for the layout test.</summary>
    public static IReadOnlyDictionary<string, uint> All { get; } = new Dictionary<string, uint>
    {
        ["KVM_GET_API_VERSION"] = GetApiVersion, ["KVM_CREATE_VM"] = CreateVm,
        ["KVM_CHECK_EXTENSION"] = CheckExtension, ["KVM_GET_VCPU_MMAP_SIZE"] = GetVcpuMmapSize,
        ["KVM_GET_SUPPORTED_CPUID"] = GetSupportedCpuid, ["KVM_CREATE_VCPU"] = CreateVcpu,
        ["KVM_SET_USER_MEMORY_REGION"] = SetUserMemoryRegion, ["KVM_SET_TSS_ADDR"] = SetTssAddr,
        ["KVM_SET_IDENTITY_MAP_ADDR"] = SetIdentityMapAddr, ["KVM_CREATE_IRQCHIP"] = CreateIrqchip,
        ["KVM_IRQ_LINE"] = IrqLine, ["KVM_IRQFD"] = Irqfd, ["KVM_CREATE_PIT2"] = CreatePit2,
        ["KVM_IOEVENTFD"] = Ioeventfd, ["KVM_RUN"] = Run, ["KVM_GET_REGS"] = GetRegs, ["KVM_SET_REGS"] = SetRegs,
        ["KVM_GET_SREGS"] = GetSregs, ["KVM_SET_SREGS"] = SetSregs, ["KVM_GET_MSRS"] = GetMsrs,
        ["KVM_SET_MSRS"] = SetMsrs, ["KVM_GET_FPU"] = GetFpu, ["KVM_SET_FPU"] = SetFpu,
        ["KVM_GET_LAPIC"] = GetLapic, ["KVM_SET_LAPIC"] = SetLapic, ["KVM_SET_CPUID2"] = SetCpuid2,
    };
}

/// <summary>KVM_CAP_* numbers this VMM checks for.</summary>
public enum KvmCapability
{
    Irqchip = 0,
    Hlt = 1,
    UserMemory = 3,
    SetTssAddr = 4,
    ExtCpuid = 7,
    NrVcpus = 9,
    Pit2 = 33,
    Irqfd = 32,
    Ioeventfd = 36,
    MaxVcpus = 66,
    ImmediateExit = 136,
}

/// <summary>kvm_run.exit_reason values (KVM_EXIT_*).</summary>
public enum KvmExitReason : uint
{
    Unknown = 0,
    Exception = 1,
    Io = 2,
    Hypercall = 3,
    Debug = 4,
    Hlt = 5,
    Mmio = 6,
    IrqWindowOpen = 7,
    Shutdown = 8,
    FailEntry = 9,
    Intr = 10,
    Nmi = 16,
    InternalError = 17,
    SystemEvent = 24,
}
