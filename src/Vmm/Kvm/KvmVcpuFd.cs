using System.Runtime.InteropServices;

namespace Spinbox.Vmm.Kvm;

/// <summary>A vCPU fd: register state, CPUID, MSRs, LAPIC, and KVM_RUN over its mmap'd run area.</summary>
public sealed unsafe class KvmVcpuFd : IDisposable
{
    private int _fd;

    internal KvmVcpuFd(int id, int fd, int mmapSize)
    {
        Id = id;
        _fd = fd;
        RunArea = new KvmRunArea(fd, mmapSize);
    }

    public int Id { get; }
    public KvmRunArea RunArea { get; }

    /// <summary>Enters the guest until the next exit. False when interrupted by a signal (EINTR) or asked to retry (EAGAIN).</summary>
    public bool Run()
    {
        if (Native.TryIoctl(_fd, KvmIoctls.Run, 0) >= 0) return true;
        int e = Native.Errno;
        if (e is Native.EINTR or Native.EAGAIN) return false;
        throw new KvmException($"KVM_RUN on vCPU {Id} failed: {Native.Describe(e)}", e);
    }

    public KvmRegs GetRegs()
    {
        KvmRegs regs = default;
        Native.Ioctl(_fd, KvmIoctls.GetRegs, ref regs, "KVM_GET_REGS");
        return regs;
    }

    public void SetRegs(KvmRegs regs) => Native.Ioctl(_fd, KvmIoctls.SetRegs, ref regs, "KVM_SET_REGS");

    public KvmSregs GetSregs()
    {
        KvmSregs sregs = default;
        Native.Ioctl(_fd, KvmIoctls.GetSregs, ref sregs, "KVM_GET_SREGS");
        return sregs;
    }

    public void SetSregs(KvmSregs sregs) => Native.Ioctl(_fd, KvmIoctls.SetSregs, ref sregs, "KVM_SET_SREGS");

    public KvmFpu GetFpu()
    {
        KvmFpu fpu = default;
        Native.Ioctl(_fd, KvmIoctls.GetFpu, ref fpu, "KVM_GET_FPU");
        return fpu;
    }

    public void SetFpu(KvmFpu fpu) => Native.Ioctl(_fd, KvmIoctls.SetFpu, ref fpu, "KVM_SET_FPU");

    public KvmLapicState GetLapic()
    {
        KvmLapicState lapic = default;
        Native.Ioctl(_fd, KvmIoctls.GetLapic, ref lapic, "KVM_GET_LAPIC");
        return lapic;
    }

    public void SetLapic(KvmLapicState lapic) => Native.Ioctl(_fd, KvmIoctls.SetLapic, ref lapic, "KVM_SET_LAPIC");

    public void SetCpuid(ReadOnlySpan<KvmCpuidEntry2> entries)
    {
        int size = sizeof(KvmCpuid2Header) + entries.Length * sizeof(KvmCpuidEntry2);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            ((KvmCpuid2Header*)buffer)->Nent = (uint)entries.Length;
            entries.CopyTo(new Span<KvmCpuidEntry2>(buffer + sizeof(KvmCpuid2Header), entries.Length));
            Native.Ioctl(_fd, KvmIoctls.SetCpuid2, (nint)buffer, "KVM_SET_CPUID2");
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>KVM_SET_MSRS; throws unless every entry was accepted.</summary>
    public void SetMsrs(ReadOnlySpan<KvmMsrEntry> entries)
    {
        int written = TransferMsrs(KvmIoctls.SetMsrs, "KVM_SET_MSRS", entries.ToArray());
        if (written != entries.Length)
            throw new KvmException($"KVM_SET_MSRS accepted {written} of {entries.Length} MSRs; MSR 0x{entries[written].Index:x} was refused");
    }

    /// <summary>KVM_GET_MSRS for the given indexes; returns the entries KVM filled.</summary>
    public KvmMsrEntry[] GetMsrs(ReadOnlySpan<uint> indexes)
    {
        var entries = new KvmMsrEntry[indexes.Length];
        for (int i = 0; i < indexes.Length; i++) entries[i].Index = indexes[i];
        int read = TransferMsrs(KvmIoctls.GetMsrs, "KVM_GET_MSRS", entries);
        return entries[..read];
    }

    private int TransferMsrs(uint request, string name, KvmMsrEntry[] entries)
    {
        int size = sizeof(KvmMsrsHeader) + entries.Length * sizeof(KvmMsrEntry);
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)size);
        try
        {
            ((KvmMsrsHeader*)buffer)->Nmsrs = (uint)entries.Length;
            var body = new Span<KvmMsrEntry>(buffer + sizeof(KvmMsrsHeader), entries.Length);
            entries.CopyTo(body);
            int count = Native.Ioctl(_fd, request, (nint)buffer, name);
            body.CopyTo(entries);
            return count;
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    public void Dispose()
    {
        RunArea.Dispose();
        Native.Close(Interlocked.Exchange(ref _fd, -1));
    }
}
