using System.Buffers.Binary;
using Spinbox.Virtio.Memory;
using Spinbox.Vmm.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>
/// Loads a bzImage (Linux boot protocol 2.10 or later, 64-bit entry): the protected-mode part goes to
/// 1 MiB, the setup header is kept for boot_params, and the entry is the load address + 0x200.
/// </summary>
public static class BzImageLoader
{
    public const ushort MinimumVersion = 0x020a;
    private const int SectorSize = 512;
    private const ulong Entry64Offset = 0x200;

    public static bool Matches(ReadOnlySpan<byte> file) =>
        file.Length > ZeroPage.Header + 4 &&
        BinaryPrimitives.ReadUInt32LittleEndian(file[ZeroPage.Header..]) == ZeroPage.HeaderMagic;

    public static LoadedKernel Load(string path, ReadOnlySpan<byte> file, IGuestMemory memory, ulong ramBelowHole)
    {
        if (file.Length < 0x270) throw BootImageException.For(path, $"{file.Length} bytes is too short for a bzImage setup header");
        ushort bootFlag = BinaryPrimitives.ReadUInt16LittleEndian(file[ZeroPage.BootFlag..]);
        if (bootFlag != ZeroPage.BootFlagMagic) throw BootImageException.For(path, $"boot_flag is 0x{bootFlag:x4}, expected 0xaa55");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(file[ZeroPage.Version..]);
        if (version < MinimumVersion)
            throw BootImageException.For(path, $"boot protocol {version >> 8}.{version & 0xff} is older than 2.10");
        ushort xloadflags = BinaryPrimitives.ReadUInt16LittleEndian(file[ZeroPage.XLoadFlags..]);
        if ((xloadflags & ZeroPage.XlfKernel64) == 0)
            throw BootImageException.For(path, "the kernel has no 64-bit entry point (XLF_KERNEL_64 not set)");
        if ((file[ZeroPage.LoadFlags] & ZeroPage.LoadedHigh) == 0)
            throw BootImageException.For(path, "the kernel does not load high (zImage); only bzImage is supported");

        int setupSects = file[ZeroPage.SetupSects] == 0 ? 4 : file[ZeroPage.SetupSects];
        int kernelOffset = (setupSects + 1) * SectorSize;
        if (kernelOffset >= file.Length)
            throw BootImageException.For(path, $"setup_sects ({setupSects}) points past the end of the {file.Length}-byte file");
        int headerEnd = 0x202 + file[0x201]; // the setup header ends where the jump at 0x200 lands
        if (headerEnd <= ZeroPage.Hdr || headerEnd > kernelOffset)
            throw BootImageException.For(path, $"setup header end 0x{headerEnd:x} is inconsistent");

        var kernel = file[kernelOffset..];
        ulong loadAddress = GuestAddressMap.HighMemory;
        uint initSize = BinaryPrimitives.ReadUInt32LittleEndian(file[ZeroPage.InitSize..]);
        ulong prefAddress = BinaryPrimitives.ReadUInt64LittleEndian(file[ZeroPage.PrefAddress..]);
        // The decompressor needs init_size bytes at the (possibly higher) address it runs from.
        ulong end = Math.Max(loadAddress + (ulong)kernel.Length, Math.Max(loadAddress, prefAddress) + initSize);
        if (end > ramBelowHole)
            throw BootImageException.For(path, $"the kernel needs guest memory up to 0x{end:x}, but RAM below 4 GiB ends at 0x{ramBelowHole:x}");
        if (!memory.TryGetSpan(loadAddress, kernel.Length, out var target))
            throw BootImageException.For(path, "the kernel does not fit in guest memory");
        kernel.CopyTo(target);

        uint cmdlineSize = BinaryPrimitives.ReadUInt32LittleEndian(file[ZeroPage.CmdlineSize..]);
        uint initrdMax = BinaryPrimitives.ReadUInt32LittleEndian(file[ZeroPage.InitrdAddrMax..]);
        return new LoadedKernel(
            "bzImage",
            loadAddress + Entry64Offset,
            end,
            file[ZeroPage.Hdr..headerEnd].ToArray(),
            cmdlineSize == 0 ? 255 : cmdlineSize,
            initrdMax == 0 ? 0x37ffffff : initrdMax);
    }
}
