using System.Buffers.Binary;

namespace Spinbox.Vmm.Boot;

/// <summary>
/// Linux's struct boot_params ("zero page", asm/bootparam.h), written field by field into a 4 KiB span.
/// The offsets are checked against the kernel header by a test.
/// </summary>
public ref struct ZeroPage
{
    public const int Size = 4096;

    // boot_params
    public const int AcpiRsdpAddr = 0x070, ExtRamdiskImage = 0x0c0, ExtRamdiskSize = 0x0c4, ExtCmdLinePtr = 0x0c8;
    public const int E820Entries = 0x1e8, Sentinel = 0x1ef, Hdr = 0x1f1, E820Table = 0x2d0, E820EntrySize = 20;

    // boot_params.hdr (struct setup_header) at 0x1f1
    public const int SetupSects = 0x1f1, VidMode = 0x1fa, BootFlag = 0x1fe, Jump = 0x200, Header = 0x202;
    public const int Version = 0x206, TypeOfLoader = 0x210, LoadFlags = 0x211, Code32Start = 0x214;
    public const int RamdiskImage = 0x218, RamdiskSize = 0x21c, HeapEndPtr = 0x224, CmdLinePtr = 0x228;
    public const int InitrdAddrMax = 0x22c, KernelAlignment = 0x230, RelocatableKernel = 0x234;
    public const int XLoadFlags = 0x236, CmdlineSize = 0x238, SetupData = 0x250, PrefAddress = 0x258, InitSize = 0x260;

    public const uint HeaderMagic = 0x53726448; // "HdrS"
    public const ushort BootFlagMagic = 0xaa55;
    public const byte LoaderUndefined = 0xff;
    public const byte LoadedHigh = 0x01, CanUseHeap = 0x80;
    public const ushort XlfKernel64 = 0x01;

    private readonly Span<byte> _bytes;

    public ZeroPage(Span<byte> bytes)
    {
        if (bytes.Length != Size) throw new ArgumentException($"boot_params must be {Size} bytes", nameof(bytes));
        _bytes = bytes;
    }

    public readonly void WriteU8(int offset, byte value) => _bytes[offset] = value;
    public readonly void WriteU16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_bytes[offset..], value);
    public readonly void WriteU32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_bytes[offset..], value);
    public readonly void WriteU64(int offset, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(_bytes[offset..], value);
    public readonly byte ReadU8(int offset) => _bytes[offset];
    public readonly ushort ReadU16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_bytes[offset..]);
    public readonly uint ReadU32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_bytes[offset..]);

    /// <summary>Copies a kernel's setup header (bytes from 0x1f1 on) into place.</summary>
    public readonly void SetSetupHeader(ReadOnlySpan<byte> header) => header.CopyTo(_bytes[Hdr..]);

    public readonly void SetCommandLine(ulong address)
    {
        WriteU32(CmdLinePtr, (uint)address);
        WriteU32(ExtCmdLinePtr, (uint)(address >> 32));
    }

    public readonly void SetRamdisk(ulong address, ulong size)
    {
        WriteU32(RamdiskImage, (uint)address);
        WriteU32(ExtRamdiskImage, (uint)(address >> 32));
        WriteU32(RamdiskSize, (uint)size);
        WriteU32(ExtRamdiskSize, (uint)(size >> 32));
    }

    public readonly void SetE820(IReadOnlyList<E820Entry> entries)
    {
        if (entries.Count > E820Map.MaxEntries) throw new ArgumentException($"e820 map has {entries.Count} entries; boot_params holds {E820Map.MaxEntries}");
        WriteU8(E820Entries, (byte)entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            int at = E820Table + i * E820EntrySize;
            WriteU64(at, entries[i].Address);
            WriteU64(at + 8, entries[i].Size);
            WriteU32(at + 16, (uint)entries[i].Type);
        }
    }
}
