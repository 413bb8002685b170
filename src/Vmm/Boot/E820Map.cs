using Spinbox.Vmm.Memory;

namespace Spinbox.Vmm.Boot;

public enum E820Type : uint
{
    Ram = 1,
    Reserved = 2,
}

public readonly record struct E820Entry(ulong Address, ulong Size, E820Type Type)
{
    public ulong Last => Address + Size - 1;

    /// <summary>The line Linux prints for this entry at boot ("BIOS-e820: [mem 0x...-0x...] usable").</summary>
    public string LinuxBootLine =>
        $"BIOS-e820: [mem 0x{Address:x16}-0x{Last:x16}] {(Type == E820Type.Ram ? "usable" : "reserved")}";
}

/// <summary>The memory map handed to Linux in boot_params.</summary>
public static class E820Map
{
    public const int MaxEntries = 128;

    public static IReadOnlyList<E820Entry> For(GuestRam ram)
    {
        if (ram.LowRamEnd <= GuestAddressMap.HighMemory)
            throw new ArgumentException($"guest memory of {ram.Size} bytes is too small to boot Linux (needs more than 1 MiB)");
        var entries = new List<E820Entry>
        {
            new(0, GuestAddressMap.Ebda, E820Type.Ram),
            new(GuestAddressMap.Ebda, GuestAddressMap.LowRamEnd - GuestAddressMap.Ebda, E820Type.Reserved),
            new(GuestAddressMap.HighMemory, ram.LowRamEnd - GuestAddressMap.HighMemory, E820Type.Ram),
        };
        if (ram.Size > ram.LowRamEnd)
            entries.Add(new(GuestAddressMap.MmioHoleEnd, ram.Size - ram.LowRamEnd, E820Type.Ram));
        return entries;
    }
}
