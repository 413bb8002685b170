namespace Spinbox.Vmm.Kvm;

/// <summary>The Linux _IO/_IOR/_IOW/_IOWR encodings (asm-generic/ioctl.h, as used on x86-64).</summary>
internal static class IoctlNumber
{
    private const int NrShift = 0, TypeShift = 8, SizeShift = 16, DirShift = 30;
    private const uint DirNone = 0, DirWrite = 1, DirRead = 2;

    private static uint Encode(uint dir, uint type, uint nr, uint size) =>
        (dir << DirShift) | (type << TypeShift) | (nr << NrShift) | (size << SizeShift);

    public static uint Io(uint type, uint nr) => Encode(DirNone, type, nr, 0);
    public static uint IoR(uint type, uint nr, int size) => Encode(DirRead, type, nr, (uint)size);
    public static uint IoW(uint type, uint nr, int size) => Encode(DirWrite, type, nr, (uint)size);
    public static uint IoWR(uint type, uint nr, int size) => Encode(DirRead | DirWrite, type, nr, (uint)size);
}
