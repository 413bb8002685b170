using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using Spinbox.Virtio.Devices.Blk;
using Spinbox.Virtio.Memory;
using Spinbox.Vmm.VirtioMmio;
using static Spinbox.Vmm.VirtioMmio.VirtioMmioRegisters;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>The virtio-mmio register file driven the way a driver does, with the real block device behind it.</summary>
public sealed class VirtioMmioTransportTests : IDisposable
{
    private const ulong DescTable = 0x1000, Avail = 0x2000, Used = 0x3000, Header = 0x4000, Data = 0x5000, StatusByte = 0x6000;
    private readonly TempDir _dir = new();
    private readonly MemfdGuestMemory.Allocation _ram = MemfdGuestMemory.Create("transport-test", 1UL << 20);
    private readonly byte[] _image = new byte[2048];
    private readonly VirtioBlkDevice _blk;
    private readonly CountingInterruptLine _line = new();
    private readonly TestLogger _logger = new();
    private readonly VirtioMmioTransport _transport;

    public VirtioMmioTransportTests()
    {
        new Random(99).NextBytes(_image);
        File.WriteAllBytes(_dir.File("disk.img"), _image);
        _blk = new VirtioBlkDevice(_dir.File("disk.img"), readOnly: false, serial: "t", NullLogger.Instance);
        _transport = new VirtioMmioTransport("virtio0", _blk, _ram.Memory, _line, _logger);
        _transport.Start();
    }

    private IGuestMemory Memory => _ram.Memory;

    private uint Rd(uint offset)
    {
        Span<byte> b = stackalloc byte[4];
        _transport.Read(offset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    private void Wr(uint offset, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _transport.Write(offset, b);
    }

    private void Negotiate(ulong features)
    {
        Wr(Status, 0);
        Wr(Status, StatusAcknowledge | StatusDriver);
        Wr(DriverFeaturesSel, 0); Wr(DriverFeatures, (uint)features);
        Wr(DriverFeaturesSel, 1); Wr(DriverFeatures, (uint)(features >> 32));
        Wr(Status, StatusAcknowledge | StatusDriver | StatusFeaturesOk);
    }

    private void SetUpQueue(ulong desc, ulong avail, ulong used)
    {
        Wr(QueueSel, 0);
        Wr(QueueNum, 8);
        Wr(QueueDescLow, (uint)desc); Wr(QueueDescHigh, (uint)(desc >> 32));
        Wr(QueueDriverLow, (uint)avail); Wr(QueueDriverHigh, (uint)(avail >> 32));
        Wr(QueueDeviceLow, (uint)used); Wr(QueueDeviceHigh, (uint)(used >> 32));
        Wr(QueueReady, 1);
    }

    [Fact]
    public void Identifies_as_a_version_2_block_device_with_its_config_space()
    {
        Assert.Equal(Magic, Rd(MagicValue));
        Assert.Equal(2u, Rd(VirtioMmioRegisters.Version));
        Assert.Equal(2u, Rd(DeviceId));
        Wr(DeviceFeaturesSel, 1);
        Assert.Equal(1u, Rd(VirtioMmioRegisters.DeviceFeatures) & 1); // VERSION_1
        Wr(QueueSel, 0);
        Assert.Equal(256u, Rd(QueueNumMax));
        Wr(QueueSel, 1);
        Assert.Equal(0u, Rd(QueueNumMax)); // no second queue
        Assert.Equal(_image.Length / 512, (int)Rd(Config)); // capacity in sectors, low word
    }

    [Fact]
    public void Features_that_were_not_offered_or_lack_version_1_are_refused()
    {
        Negotiate(FeatureVersion1 | (1UL << 50));
        Assert.Equal(0u, Rd(Status) & StatusFeaturesOk);
        Negotiate(0);
        Assert.Equal(0u, Rd(Status) & StatusFeaturesOk);
        Negotiate(FeatureVersion1);
        Assert.Equal(StatusFeaturesOk, Rd(Status) & StatusFeaturesOk);
        Assert.Contains(_logger.Lines, l => l.Contains("did not accept VIRTIO_F_VERSION_1"));
    }

    [Fact]
    public void Rings_outside_guest_ram_mark_the_device_for_reset_and_reset_clears_it()
    {
        Negotiate(FeatureVersion1);
        SetUpQueue(0x4000_0000, Avail, Used);
        Wr(Status, StatusAcknowledge | StatusDriver | StatusFeaturesOk | StatusDriverOk);

        Assert.Equal(StatusDeviceNeedsReset, Rd(Status) & StatusDeviceNeedsReset);
        Assert.Equal(InterruptConfigChange, Rd(InterruptStatus));
        Assert.Equal(1, _line.Count);
        Assert.False(_transport.IsActivated);
        Assert.Contains(_logger.Lines, l => l.Contains("descriptor table at 0x40000000") && l.Contains("device needs reset"));

        Wr(Status, 0);
        Assert.Equal(0u, Rd(Status));
        Assert.Equal(0u, Rd(InterruptStatus));
    }

    [Fact]
    public void A_read_request_completes_through_the_kick_thread_and_raises_the_queue_interrupt()
    {
        Negotiate(FeatureVersion1);
        SetUpQueue(DescTable, Avail, Used);
        Wr(Status, StatusAcknowledge | StatusDriver | StatusFeaturesOk | StatusDriverOk);
        Assert.True(_transport.IsActivated);

        Memory.Write(Header, 0u);       // VIRTIO_BLK_T_IN
        Memory.Write(Header + 8, 2UL);  // sector 2
        Memory.Write(StatusByte, (byte)0xff);
        WriteDescriptor(0, Header, 16, flags: 1, next: 1);
        WriteDescriptor(1, Data, 512, flags: 1 | 2, next: 2);
        WriteDescriptor(2, StatusByte, 1, flags: 2, next: 0);
        Memory.Write(Avail + 4, (ushort)0);
        Memory.Write(Avail + 2, (ushort)1);
        Wr(QueueNotify, 0);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        // The device pushes the used element, then signals: wait for both.
        while ((Memory.Read<ushort>(Used + 2) != 1 || Rd(InterruptStatus) == 0) && DateTime.UtcNow < deadline) Thread.Sleep(5);

        Assert.Equal(1, Memory.Read<ushort>(Used + 2));
        Assert.Equal(0, Memory.Read<byte>(StatusByte));
        Assert.True(Memory.GetSpan(Data, 512).SequenceEqual(_image.AsSpan(1024, 512)));
        Assert.Equal(513u, Memory.Read<uint>(Used + 8)); // used length: data + status
        Assert.Equal(InterruptUsedBuffer, Rd(InterruptStatus));
        Assert.Equal(1, _line.Count);
        Assert.Equal(1, _transport.NotifyExits);
        Wr(InterruptAck, InterruptUsedBuffer);
        Assert.Equal(0u, Rd(InterruptStatus));
    }

    [Fact]
    public void Registers_are_32_bit_only()
    {
        Span<byte> one = stackalloc byte[1];
        _transport.Read(MagicValue, one);
        Assert.Equal(0, one[0]);
        Assert.Contains(_logger.Lines, l => l.Contains("1-byte read of register 0x0 ignored"));
    }

    private void WriteDescriptor(int index, ulong address, uint length, ushort flags, ushort next)
    {
        ulong at = DescTable + (ulong)index * 16;
        Memory.Write(at, address);
        Memory.Write(at + 8, length);
        Memory.Write(at + 12, flags);
        Memory.Write(at + 14, next);
    }

    public void Dispose()
    {
        _transport.Dispose();
        _blk.Dispose();
        _ram.Dispose();
        _dir.Dispose();
    }
}
