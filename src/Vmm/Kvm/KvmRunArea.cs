using System.Runtime.CompilerServices;

namespace Spinbox.Vmm.Kvm;

/// <summary>
/// The vCPU's mmap'd struct kvm_run: KVM writes the exit details here and reads back the data of an
/// IN or MMIO read. Offsets are those of linux/kvm.h on x86-64 (checked by a test).
/// </summary>
public sealed unsafe class KvmRunArea : IDisposable
{
    // Offsets inside struct kvm_run.
    public const int ImmediateExitOffset = 1;
    public const int ExitReasonOffset = 8;
    public const int UnionOffset = 32;
    public const int IoDirectionOffset = UnionOffset, IoSizeOffset = UnionOffset + 1, IoPortOffset = UnionOffset + 2;
    public const int IoCountOffset = UnionOffset + 4, IoDataOffsetOffset = UnionOffset + 8;
    public const int MmioPhysAddrOffset = UnionOffset, MmioDataOffset = UnionOffset + 8;
    public const int MmioLenOffset = UnionOffset + 16, MmioIsWriteOffset = UnionOffset + 20;
    public const int FailEntryReasonOffset = UnionOffset, InternalSuberrorOffset = UnionOffset;
    public const int InternalNdataOffset = UnionOffset + 4, InternalDataOffset = UnionOffset + 8;
    public const int SystemEventTypeOffset = UnionOffset;

    private nint _address;
    private readonly int _size;

    internal KvmRunArea(int vcpuFd, int size)
    {
        if (size < 4096) throw new KvmException($"KVM_GET_VCPU_MMAP_SIZE returned {size}, expected at least 4096");
        _size = size;
        _address = Native.MapShared(vcpuFd, (nuint)size, "kvm_run");
    }

    private byte* Base => _address != 0 ? (byte*)_address : throw new ObjectDisposedException(nameof(KvmRunArea));

    private T At<T>(int offset) where T : unmanaged => Unsafe.ReadUnaligned<T>(Base + offset);

    public KvmExitReason ExitReason => (KvmExitReason)At<uint>(ExitReasonOffset);

    /// <summary>When set, the next (or current) KVM_RUN returns EINTR at once instead of entering the guest.</summary>
    public bool ImmediateExit
    {
        get => Volatile.Read(ref Base[ImmediateExitOffset]) != 0;
        set => Volatile.Write(ref Base[ImmediateExitOffset], value ? (byte)1 : (byte)0);
    }

    public bool IoIsOut => At<byte>(IoDirectionOffset) == 1;
    public int IoSize => At<byte>(IoSizeOffset);
    public ushort IoPort => At<ushort>(IoPortOffset);
    public uint IoCount => At<uint>(IoCountOffset);

    /// <summary>The data of a port-I/O exit (size * count bytes), checked to lie inside the mapping.</summary>
    public Span<byte> IoData
    {
        get
        {
            ulong offset = At<ulong>(IoDataOffsetOffset);
            ulong length = (ulong)IoSize * IoCount;
            if (offset > (ulong)_size || length > (ulong)_size - offset)
                throw new KvmException($"kvm_run io data (offset {offset}, {length} bytes) lies outside the {_size}-byte run area");
            return new Span<byte>(Base + offset, (int)length);
        }
    }

    public ulong MmioAddress => At<ulong>(MmioPhysAddrOffset);
    public bool MmioIsWrite => At<byte>(MmioIsWriteOffset) != 0;

    /// <summary>The data of an MMIO exit (at most 8 bytes).</summary>
    public Span<byte> MmioData => new(Base + MmioDataOffset, (int)Math.Min(At<uint>(MmioLenOffset), 8u));

    public ulong FailEntryReason => At<ulong>(FailEntryReasonOffset);
    public uint InternalSuberror => At<uint>(InternalSuberrorOffset);
    public uint SystemEventType => At<uint>(SystemEventTypeOffset);

    /// <summary>The debug words KVM attached to an internal error (at most 16).</summary>
    public ulong[] InternalData
    {
        get
        {
            uint n = Math.Min(At<uint>(InternalNdataOffset), 16u);
            var data = new ulong[n];
            for (int i = 0; i < n; i++) data[i] = At<ulong>(InternalDataOffset + 8 * i);
            return data;
        }
    }

    public void Dispose() => Native.Unmap(Interlocked.Exchange(ref _address, 0), (nuint)_size);
}
