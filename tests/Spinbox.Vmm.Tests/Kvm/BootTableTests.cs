using System.Buffers.Binary;
using System.Text;
using Spinbox.Vmm.Boot;
using Spinbox.Vmm.Memory;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>The MP table and e820 map handed to Linux, checked byte by byte (no KVM needed).</summary>
public sealed class BootTableTests
{
    private static byte Sum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes) sum += b;
        return sum;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(32)]
    public void Mp_table_has_valid_checksums_and_one_enabled_processor_per_vcpu(int vcpus)
    {
        byte[] table = MpTable.Build(vcpus);
        Assert.True(table.Length <= 1024, $"{table.Length} bytes do not fit the 1 KiB EBDA slot");
        Assert.Equal("_MP_", Encoding.ASCII.GetString(table, 0, 4));
        Assert.Equal(0, Sum(table.AsSpan(0, 16)));
        Assert.Equal((uint)GuestAddressMap.Ebda + 16, BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(4)));

        var config = table.AsSpan(16);
        Assert.Equal("PCMP", Encoding.ASCII.GetString(config[..4]));
        int length = BinaryPrimitives.ReadUInt16LittleEndian(config[4..]);
        Assert.Equal(table.Length - 16, length);
        Assert.Equal(0, Sum(config[..length]));
        Assert.Equal((uint)GuestAddressMap.LocalApic, BinaryPrimitives.ReadUInt32LittleEndian(config[36..]));

        int at = 44;
        for (int cpu = 0; cpu < vcpus; cpu++, at += 20)
        {
            Assert.Equal(0, config[at]);          // processor entry
            Assert.Equal(cpu, config[at + 1]);    // local APIC id
            Assert.Equal(cpu == 0 ? 3 : 1, config[at + 3]); // enabled, boot processor
        }
        Assert.Equal(1, config[at]);              // bus
        Assert.Equal(2, config[at + 8]);          // IOAPIC
        Assert.Equal(vcpus, config[at + 9]);      // its id follows the CPUs'
        Assert.Equal((uint)GuestAddressMap.IoApic, BinaryPrimitives.ReadUInt32LittleEndian(config[(at + 12)..]));
        Assert.Equal(vcpus + 2 + 24 + 2, BinaryPrimitives.ReadUInt16LittleEndian(config[34..]));
    }

    [Fact]
    public void Mp_table_refuses_more_vcpus_than_fit()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MpTable.Build(33));
        Assert.Contains("vCPU count 33 is outside 1..32", e.Message);
    }

    [Fact]
    public void E820_map_of_a_small_vm_reserves_the_ebda_and_skips_the_legacy_hole()
    {
        using var ram = GuestRam.Create("e820-test", 256UL << 20);
        var map = E820Map.For(ram);
        Assert.Equal(
        [
            new E820Entry(0, 0x9fc00, E820Type.Ram),
            new E820Entry(0x9fc00, 0x400, E820Type.Reserved),
            new E820Entry(0x100000, (256UL << 20) - 0x100000, E820Type.Ram),
        ], map);
        Assert.Equal("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable", map[0].LinuxBootLine);
        Assert.Equal("BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved", map[1].LinuxBootLine);
    }

    [Fact]
    public void Ram_beyond_3_gib_continues_at_4_gib()
    {
        using var ram = GuestRam.Create("e820-test", 4UL << 30);
        Assert.Equal(2, ram.Regions.Count);
        Assert.Equal(0x1_0000_0000UL, ram.Regions[1].GuestPhysicalAddress);
        Assert.Equal(1UL << 30, ram.Regions[1].Size);
        var map = E820Map.For(ram);
        Assert.Equal(new E820Entry(0x1_0000_0000, 1UL << 30, E820Type.Ram), map[^1]);
        Assert.Equal(new E820Entry(0x100000, 0xc000_0000 - 0x100000, E820Type.Ram), map[2]);
        // Guest RAM is bounds-checked: the MMIO hole is not memory.
        Assert.False(ram.Memory.TryGetSpan(0xd000_0000, 4, out _));
        Assert.True(ram.Memory.TryGetSpan(0x1_0000_0000, 4, out _));
    }

    [Fact]
    public void Device_entries_are_appended_to_the_command_line()
    {
        Assert.Equal("console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6",
            KvmVm.WithDeviceEntries("console=ttyS0", 2));
        Assert.Equal("quiet", KvmVm.WithDeviceEntries("quiet", 0));
    }
}
