using System.Buffers.Binary;
using Spinbox.Virtio.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>
/// Loads an uncompressed ELF64 vmlinux: each PT_LOAD segment at its physical address; the entry is
/// e_entry (startup_64, entered in long mode with boot_params in RSI), which skips decompression.
/// </summary>
public static class ElfKernelLoader
{
    private const uint PtLoad = 1;
    private const ushort MachineX8664 = 62;
    private const uint DefaultCmdlineLimit = 2047; // COMMAND_LINE_SIZE - 1 on x86

    public static bool Matches(ReadOnlySpan<byte> file) =>
        file.Length >= 4 && file[0] == 0x7f && file[1] == (byte)'E' && file[2] == (byte)'L' && file[3] == (byte)'F';

    public static LoadedKernel Load(string path, ReadOnlySpan<byte> file, IGuestMemory memory, ulong ramBelowHole)
    {
        if (file.Length < 64) throw BootImageException.For(path, "ELF header is truncated");
        if (file[4] != 2) throw BootImageException.For(path, "not a 64-bit ELF file");
        if (file[5] != 1) throw BootImageException.For(path, "not a little-endian ELF file");
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(file[18..]);
        if (machine != MachineX8664) throw BootImageException.For(path, $"ELF machine is {machine}, expected x86-64 (62)");
        ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(file[24..]);
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(file[32..]);
        ushort phentsize = BinaryPrimitives.ReadUInt16LittleEndian(file[54..]);
        ushort phnum = BinaryPrimitives.ReadUInt16LittleEndian(file[56..]);
        if (phentsize < 56 || phnum == 0 || phoff > (ulong)file.Length || (ulong)phentsize * phnum > (ulong)file.Length - phoff)
            throw BootImageException.For(path, "ELF program headers are missing or truncated");

        ulong end = 0;
        bool entryLoaded = false;
        for (int i = 0; i < phnum; i++)
        {
            var ph = file.Slice((int)phoff + i * phentsize, phentsize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != PtLoad) continue;
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
            ulong paddr = BinaryPrimitives.ReadUInt64LittleEndian(ph[24..]);
            ulong filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
            ulong memsz = BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]);
            if (filesz > memsz || offset > (ulong)file.Length || filesz > (ulong)file.Length - offset)
                throw BootImageException.For(path, $"ELF segment {i} lies outside the file");
            if (memsz > int.MaxValue || paddr + memsz < paddr || paddr + memsz > ramBelowHole)
                throw BootImageException.For(path, $"ELF segment {i} at 0x{paddr:x} (+0x{memsz:x}) does not fit in guest memory (RAM below 4 GiB ends at 0x{ramBelowHole:x})");
            if (!memory.TryGetSpan(paddr, (int)memsz, out var target))
                throw BootImageException.For(path, $"ELF segment {i} at 0x{paddr:x} is outside guest RAM");
            file.Slice((int)offset, (int)filesz).CopyTo(target);
            target[(int)filesz..].Clear();
            end = Math.Max(end, paddr + memsz);
            entryLoaded |= entry >= paddr && entry < paddr + memsz;
        }
        if (end == 0) throw BootImageException.For(path, "ELF file has no loadable segment");
        if (!entryLoaded) throw BootImageException.For(path, $"ELF entry point 0x{entry:x} is not inside a loaded segment");
        return new LoadedKernel("ELF vmlinux", entry, end, null, DefaultCmdlineLimit, 0x37ffffff);
    }
}
