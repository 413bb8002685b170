using Spinbox.Virtio.Memory;
using Spinbox.Vmm.Kvm;
using Spinbox.Vmm.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>
/// The GDT a vCPU starts with. Linux's 64-bit boot protocol wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18,
/// both flat; a 32-bit code segment follows for 32-bit guests. The IDT is empty: an exception before the
/// guest installs its own is a triple fault, which stops the VM with that reason.
/// </summary>
public static class BootGdt
{
    public const ushort Code64Selector = 0x10, DataSelector = 0x18, Code32Selector = 0x20;

    private static readonly ulong[] Entries =
    [
        0,
        0,
        0x00af9b000000ffff, // 0x10: 64-bit code, execute/read
        0x00cf93000000ffff, // 0x18: 32-bit data, read/write, 4 GiB
        0x00cf9b000000ffff, // 0x20: 32-bit code, execute/read, 4 GiB
    ];

    public static void Write(IGuestMemory memory)
    {
        for (int i = 0; i < Entries.Length; i++) memory.Write(GuestAddressMap.Gdt + (ulong)i * 8, Entries[i]);
        memory.Write(GuestAddressMap.Idt, 0UL);
    }

    public static KvmDtable GdtRegister => new() { Base = GuestAddressMap.Gdt, Limit = (ushort)(Entries.Length * 8 - 1) };

    public static KvmDtable IdtRegister => new() { Base = GuestAddressMap.Idt, Limit = 0 };

    public static KvmSegment Code64 => FlatSegment(Code64Selector, type: 0xb, longMode: true);
    public static KvmSegment Code32 => FlatSegment(Code32Selector, type: 0xb, longMode: false);
    public static KvmSegment Data => FlatSegment(DataSelector, type: 0x3, longMode: false);

    private static KvmSegment FlatSegment(ushort selector, byte type, bool longMode) => new()
    {
        Base = 0,
        Limit = 0xffffffff,
        Selector = selector,
        Type = type,
        Present = 1,
        Dpl = 0,
        Db = longMode ? (byte)0 : (byte)1,
        S = 1,
        L = longMode ? (byte)1 : (byte)0,
        G = 1,
    };
}
