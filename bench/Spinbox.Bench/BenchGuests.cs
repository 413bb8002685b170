using Spinbox.Vmm.Boot;

namespace Spinbox.Bench;

/// <summary>Tiny real-mode guests, assembled by hand (so the benchmarks need no toolchain).</summary>
public static class BenchGuests
{
    public const ulong LoadAddress = 0x1000;

    /// <summary>mov dx, 0x3f8; mov al, '!'; out dx, al; hlt.</summary>
    public static FlatImage FirstSerialByte { get; } =
        new([0xba, 0xf8, 0x03, 0xb0, (byte)'!', 0xee, 0xf4], LoadAddress, CpuMode.Real16);

    /// <summary>mov dx, 0x3ff (COM1 scratch register); loop: out dx, al; jmp loop. One port-I/O exit per iteration.</summary>
    public static FlatImage PortIoLoop { get; } =
        new([0xba, 0xff, 0x03, 0xee, 0xeb, 0xfd], LoadAddress, CpuMode.Real16);
}
