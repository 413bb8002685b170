using Spinbox.Virtio.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>
/// A freestanding guest: raw code copied to <paramref name="LoadAddress"/>, entered in <paramref name="Mode"/>
/// at <paramref name="Entry"/> (default: the load address) by every vCPU, each with its index in RDI.
/// Used by the test guests and the benchmarks.
/// </summary>
public sealed record FlatImage(byte[] Code, ulong LoadAddress, CpuMode Mode, ulong? Entry = null, ulong StackPointer = 0x8000)
{
    public BootPlan Load(IGuestMemory memory)
    {
        if (Code.Length == 0) throw new BootImageException("flat image is empty");
        if (!memory.TryGetSpan(LoadAddress, Code.Length, out var target))
            throw new BootImageException($"flat image of {Code.Length} bytes at 0x{LoadAddress:x} does not fit in guest memory");
        ulong entry = Entry ?? LoadAddress;
        if (Mode == CpuMode.Real16 && (entry > 0xffff || StackPointer > 0x10000))
            throw new BootImageException($"real-mode entry 0x{entry:x} and stack 0x{StackPointer:x} must lie below 64 KiB");
        Code.CopyTo(target);
        CpuModeSetup.WriteTables(memory, Mode);
        return new BootPlan(Mode, entry, StackPointer, 0, OnlyBootCpuStarts: false);
    }
}
