using System.Buffers.Binary;
using System.Text;
using Spinbox.Vmm.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>
/// An Intel MultiProcessor Specification 1.4 table: how a Linux guest without ACPI finds its vCPUs (one
/// local APIC each), the IOAPIC, and which ISA interrupt goes to which IOAPIC pin. It lives in the EBDA
/// page (0x9fc00), where Linux scans for the "_MP_" floating pointer.
/// </summary>
public static class MpTable
{
    public const int MaxVcpus = 32; // what fits in the 1 KiB reserved for the table
    private const int FloatingPointerSize = 16, HeaderSize = 44, ProcessorSize = 20, EntrySize = 8;
    private const byte SpecRevision = 4, ApicVersion = 0x14, IoApicVersion = 0x11;
    private const byte EntryProcessor = 0, EntryBus = 1, EntryIoApic = 2, EntryIoInterrupt = 3, EntryLocalInterrupt = 4;
    private const byte InterruptInt = 0, InterruptNmi = 1, InterruptExtInt = 3;
    private const byte CpuEnabled = 1, CpuBootProcessor = 2;
    private const int IoApicPins = 24;

    public static int SizeFor(int vcpus) =>
        FloatingPointerSize + HeaderSize + vcpus * ProcessorSize + EntrySize /* bus */ + EntrySize /* ioapic */
        + IoApicPins * EntrySize + 2 * EntrySize /* LINT0, LINT1 */;

    /// <summary>Builds the table for <paramref name="vcpus"/> CPUs, to be placed at <paramref name="address"/>.</summary>
    public static byte[] Build(int vcpus, ulong address = GuestAddressMap.Ebda)
    {
        if (vcpus < 1 || vcpus > MaxVcpus) throw new ArgumentOutOfRangeException(nameof(vcpus), $"vCPU count {vcpus} is outside 1..{MaxVcpus}");
        var table = new byte[SizeFor(vcpus)];
        var span = table.AsSpan();
        byte ioApicId = (byte)vcpus;

        // Floating pointer structure.
        Encoding.ASCII.GetBytes("_MP_", span);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], (uint)address + FloatingPointerSize);
        span[8] = 1; // length in 16-byte units
        span[9] = SpecRevision;
        span[10] = Checksum(span[..FloatingPointerSize]);

        // Configuration table: header, then entries.
        var config = span[FloatingPointerSize..];
        int at = HeaderSize;
        for (int cpu = 0; cpu < vcpus; cpu++)
        {
            var e = config.Slice(at, ProcessorSize);
            e[0] = EntryProcessor;
            e[1] = (byte)cpu; // local APIC id
            e[2] = ApicVersion;
            e[3] = (byte)(CpuEnabled | (cpu == 0 ? CpuBootProcessor : 0));
            BinaryPrimitives.WriteUInt32LittleEndian(e[4..], 0x600);   // family 6 signature
            BinaryPrimitives.WriteUInt32LittleEndian(e[8..], 0x201);   // FPU and APIC present
            at += ProcessorSize;
        }
        var bus = config.Slice(at, EntrySize);
        bus[0] = EntryBus;
        bus[1] = 0;
        Encoding.ASCII.GetBytes("ISA   ", bus[2..]);
        at += EntrySize;

        var ioApic = config.Slice(at, EntrySize);
        ioApic[0] = EntryIoApic;
        ioApic[1] = ioApicId;
        ioApic[2] = IoApicVersion;
        ioApic[3] = 1; // enabled
        BinaryPrimitives.WriteUInt32LittleEndian(ioApic[4..], (uint)GuestAddressMap.IoApic);
        at += EntrySize;

        for (int irq = 0; irq < IoApicPins; irq++)
        {
            var e = config.Slice(at, EntrySize);
            e[0] = EntryIoInterrupt;
            e[1] = InterruptInt;
            // flags 0: polarity and trigger conform to the ISA bus (active high, edge)
            e[4] = 0;             // source bus
            e[5] = (byte)irq;     // source bus irq
            e[6] = ioApicId;
            e[7] = (byte)irq;     // IOAPIC pin
            at += EntrySize;
        }
        WriteLocalInterrupt(config.Slice(at, EntrySize), InterruptExtInt, lint: 0);
        at += EntrySize;
        WriteLocalInterrupt(config.Slice(at, EntrySize), InterruptNmi, lint: 1);
        at += EntrySize;

        Encoding.ASCII.GetBytes("PCMP", config);
        BinaryPrimitives.WriteUInt16LittleEndian(config[4..], (ushort)at);
        config[6] = SpecRevision;
        Encoding.ASCII.GetBytes("SPINBOX ", config[8..]);
        Encoding.ASCII.GetBytes("MICROVM     ", config[16..]);
        BinaryPrimitives.WriteUInt16LittleEndian(config[34..], (ushort)(vcpus + 2 + IoApicPins + 2));
        BinaryPrimitives.WriteUInt32LittleEndian(config[36..], (uint)GuestAddressMap.LocalApic);
        config[7] = Checksum(config[..at]);
        return table;
    }

    private static void WriteLocalInterrupt(Span<byte> e, byte type, byte lint)
    {
        e[0] = EntryLocalInterrupt;
        e[1] = type;
        e[4] = 0;    // source bus
        e[5] = 0;    // source irq
        e[6] = 0xff; // every local APIC
        e[7] = lint;
    }

    /// <summary>The byte that makes the span's sum zero (mod 256); the span's checksum byte must be zero when called.</summary>
    public static byte Checksum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes) sum += b;
        return (byte)(0 - sum);
    }
}
