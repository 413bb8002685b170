using System.Text;
using Spinbox.Vmm.Devices;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>Counts the edges a device raised on its interrupt line.</summary>
public sealed class CountingInterruptLine : IInterruptLine
{
    private int _count;
    public int Count => Volatile.Read(ref _count);
    public void Raise() => Interlocked.Increment(ref _count);
}

/// <summary>The PC devices and the bus, driven register by register (no KVM needed).</summary>
public sealed class DeviceTests
{
    private static byte Read(IBusDevice d, ulong offset)
    {
        Span<byte> b = stackalloc byte[1];
        d.Read(offset, b);
        return b[0];
    }

    private static void Write(IBusDevice d, ulong offset, byte value) => d.Write(offset, [value]);

    [Fact]
    public void Serial_transmits_to_the_console_log_file_and_reports_an_empty_transmitter()
    {
        using var dir = new TempDir();
        string path = dir.File("console.log");
        var line = new CountingInterruptLine();
        using (var log = new ConsoleLog(path))
        {
            var uart = new Serial8250(log, line);
            foreach (byte b in "hi\n"u8) Write(uart, 0, b);
            Assert.Equal(0x60, Read(uart, 5));      // LSR: THR empty, transmitter idle
            Assert.Equal(0xb0, Read(uart, 6));      // MSR: DCD, DSR, CTS
            Assert.Equal("hi\n", log.Text);
            Assert.Equal(0, line.Count);            // THRE interrupt not enabled
        }
        Assert.Equal("hi\n", File.ReadAllText(path));
    }

    [Fact]
    public void Serial_raises_and_identifies_the_transmit_empty_interrupt_when_enabled()
    {
        using var log = new ConsoleLog(null);
        var line = new CountingInterruptLine();
        var uart = new Serial8250(log, line);
        Assert.Equal(0x01, Read(uart, 2));          // IIR: nothing pending
        Write(uart, 1, 0x02);                       // IER: THRE
        Assert.Equal(1, line.Count);
        Assert.Equal(0x02, Read(uart, 2));          // IIR: THRE pending...
        Assert.Equal(0x01, Read(uart, 2));          // ...and acknowledged by the read
        Write(uart, 0, (byte)'x');
        Assert.Equal(2, line.Count);
        Write(uart, 2, 0x01);                       // FCR: FIFOs on
        Assert.Equal(0xc2, Read(uart, 2));
    }

    [Fact]
    public void Serial_divisor_latch_and_loopback_behave_like_a_16550()
    {
        using var log = new ConsoleLog(null);
        var uart = new Serial8250(log, NoInterruptLine.Instance);
        Write(uart, 3, 0x83);                       // LCR: DLAB
        Write(uart, 0, 0x01);
        Write(uart, 1, 0x00);
        Assert.Equal(0x01, Read(uart, 0));
        Write(uart, 3, 0x03);
        Write(uart, 7, 0x5a);
        Assert.Equal(0x5a, Read(uart, 7));          // scratch
        Write(uart, 4, 0x10 | 0x02);                // MCR: loopback, RTS
        Assert.Equal(0x10, Read(uart, 6));          // MSR: CTS follows RTS
        Write(uart, 0, (byte)'L');
        Assert.Equal(0x61, Read(uart, 5));          // data ready
        Assert.Equal((byte)'L', Read(uart, 0));
        Assert.Equal("", log.Text);                 // loopback bytes never reach the console
        uart.Enqueue("in"u8);
        Assert.Equal((byte)'i', Read(uart, 0));
    }

    [Fact]
    public void I8042_pulses_reset_on_command_0xfe_and_reads_back_its_command_byte()
    {
        int resets = 0;
        var kbc = new I8042Controller(() => resets++);
        Assert.Equal(0, Read(kbc.CommandPort, 0) & 0x02); // input buffer empty: the guest may write
        Write(kbc.CommandPort, 0, 0x60);
        Write(kbc.DataPort, 0, 0x47);
        Write(kbc.CommandPort, 0, 0x20);
        Assert.Equal(1, Read(kbc.CommandPort, 0) & 0x01);
        Assert.Equal(0x47, Read(kbc.DataPort, 0));
        Assert.Equal(0, resets);
        Write(kbc.CommandPort, 0, 0xfe);
        Assert.Equal(1, resets);
    }

    private sealed class RecordingDevice : IBusDevice
    {
        public List<(ulong Offset, int Length, bool Write)> Accesses { get; } = [];
        public void Read(ulong offset, Span<byte> data) { Accesses.Add((offset, data.Length, false)); data.Fill(0x42); }
        public void Write(ulong offset, ReadOnlySpan<byte> data) => Accesses.Add((offset, data.Length, true));
    }

    [Fact]
    public void Bus_dispatches_by_range_with_offsets_and_rejects_overlaps_and_straddling_accesses()
    {
        var bus = new Bus("MMIO");
        var a = new RecordingDevice();
        var b = new RecordingDevice();
        bus.Register(0x1000, 0x100, a);
        bus.Register(0x2000, 0x10, b);
        var e = Assert.Throws<ArgumentException>(() => bus.Register(0x10f0, 0x20, new RecordingDevice()));
        Assert.Contains("overlaps 0x1000+0x100", e.Message);

        Span<byte> data = stackalloc byte[4];
        Assert.True(bus.TryRead(0x1010, data));
        Assert.Equal(0x42, data[0]);
        Assert.True(bus.TryWrite(0x200c, data));
        Assert.False(bus.TryRead(0x10fe, data));    // crosses the end of a's range
        Assert.False(bus.TryWrite(0x3000, data));   // nothing there
        Assert.Equal([(0x10UL, 4, false)], a.Accesses);
        Assert.Equal([(0xcUL, 4, true)], b.Accesses);
    }
}
