using System.Buffers.Binary;
using System.Text;
using Spinbox.Virtio.Devices.Blk;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Tests;

public sealed class VirtioBlkDeviceTests : IDisposable
{
    private const int ImageSectors = 128;
    private readonly MemfdGuestMemory.Allocation _ram = MemfdGuestMemory.Create("blk-test", 1 << 20);
    private readonly string _image = Path.Combine(Path.GetTempPath(), $"spinbox-blk-{Guid.NewGuid():N}.img");
    private readonly byte[] _contents = new byte[ImageSectors * 512];
    private readonly SplitRingDriver _driver;
    private Virtqueue? _queue;
    private CountingInterrupt _interrupt = null!;

    public VirtioBlkDeviceTests()
    {
        for (int i = 0; i < _contents.Length; i++) _contents[i] = (byte)(i * 7 + i / 512);
        File.WriteAllBytes(_image, _contents);
        _driver = new SplitRingDriver(Memory, 16);
    }

    private IGuestMemory Memory => _ram.Memory;

    public void Dispose()
    {
        _ram.Dispose();
        File.Delete(_image);
    }

    private VirtioBlkDevice Start(bool readOnly = false, string serial = "testdisk", bool eventIndex = false)
    {
        var device = new VirtioBlkDevice(_image, readOnly, serial, eventIndex: eventIndex);
        _queue = _driver.CreateQueue(eventIndex);
        _interrupt = new CountingInterrupt(_ => _queue);
        device.Activate(Memory, device.DeviceFeatures, [_queue], _interrupt);
        return device;
    }

    private ulong Header(uint type, ulong sector)
    {
        Span<byte> h = stackalloc byte[16];
        h.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
        return _driver.Allocate(16, h);
    }

    /// <summary>Submits header + data + status as three descriptors; returns (data address, status address).</summary>
    private (ulong Data, ulong Status) Submit(uint type, ulong sector, int dataLength, bool dataWritable, ReadOnlySpan<byte> data = default)
    {
        ulong header = Header(type, sector);
        ulong buffer = _driver.Allocate(Math.Max(dataLength, 1), data);
        ulong status = _driver.Allocate(1, [0xff]);
        if (dataLength > 0) _driver.AddChain((header, 16, false), (buffer, (uint)dataLength, dataWritable), (status, 1, true));
        else _driver.AddChain((header, 16, false), (status, 1, true));
        return (buffer, status);
    }

    private byte Status(ulong address) => Memory.Read<byte>(address);

    [Fact]
    public void ReadsSectorZeroOfTheImage()
    {
        using var device = Start();
        var (data, status) = Submit(BlkRequestType.In, 0, 512, dataWritable: true);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.Ok, Status(status));
        Assert.Equal(_contents.AsSpan(0, 512).ToArray(), Memory.GetSpan(data, 512).ToArray());
        Assert.Equal(1, _driver.UsedIndex);
        Assert.Equal(513u, _driver.Used(0).Length);
        Assert.Equal(1, _interrupt.Raised);
    }

    [Fact]
    public void WriteThenReadBackHitsTheHostFile()
    {
        byte[] pattern = Enumerable.Range(0, 1024).Select(i => (byte)(255 - i % 251)).ToArray();
        using (var device = Start())
        {
            var (_, writeStatus) = Submit(BlkRequestType.Out, 5, 1024, dataWritable: false, pattern);
            var (readBack, readStatus) = Submit(BlkRequestType.In, 5, 1024, dataWritable: true);
            device.ProcessQueue(0);
            Assert.Equal(BlkStatus.Ok, Status(writeStatus));
            Assert.Equal(BlkStatus.Ok, Status(readStatus));
            Assert.Equal(1u, _driver.Used(0).Length);
            Assert.Equal(pattern, Memory.GetSpan(readBack, 1024).ToArray());
        }
        byte[] file = File.ReadAllBytes(_image);
        Assert.Equal(pattern, file.AsSpan(5 * 512, 1024).ToArray());
        Assert.Equal(_contents.AsSpan(0, 5 * 512).ToArray(), file.AsSpan(0, 5 * 512).ToArray());
    }

    [Fact]
    public void FlushSucceeds()
    {
        using var device = Start();
        var (_, status) = Submit(BlkRequestType.Flush, 0, 0, false);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.Ok, Status(status));
        Assert.Equal(1u, _driver.Used(0).Length);
    }

    [Fact]
    public void GetIdReturnsTheSerialNulPadded()
    {
        using var device = Start(serial: "testdisk");
        var (data, status) = Submit(BlkRequestType.GetId, 0, 20, dataWritable: true);
        Memory.GetSpan(data, 20).Fill(0xaa);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.Ok, Status(status));
        byte[] expected = new byte[20];
        Encoding.ASCII.GetBytes("testdisk").CopyTo(expected, 0);
        Assert.Equal(expected, Memory.GetSpan(data, 20).ToArray());
        Assert.Equal(21u, _driver.Used(0).Length);
    }

    [Fact]
    public void ReadPastTheEndFailsWithIoError()
    {
        using var device = Start();
        var (_, beyond) = Submit(BlkRequestType.In, ImageSectors, 512, dataWritable: true);
        var (_, straddling) = Submit(BlkRequestType.In, ImageSectors - 1, 1024, dataWritable: true);
        var (_, huge) = Submit(BlkRequestType.In, ulong.MaxValue, 512, dataWritable: true);
        var (_, last) = Submit(BlkRequestType.In, ImageSectors - 1, 512, dataWritable: true);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.IoError, Status(beyond));
        Assert.Equal(BlkStatus.IoError, Status(straddling));
        Assert.Equal(BlkStatus.IoError, Status(huge));
        Assert.Equal(BlkStatus.Ok, Status(last));
        Assert.Equal(4, _driver.UsedIndex);
    }

    [Fact]
    public void PartialSectorLengthFailsWithIoError()
    {
        using var device = Start();
        var (_, status) = Submit(BlkRequestType.In, 0, 100, dataWritable: true);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.IoError, Status(status));
    }

    [Fact]
    public void DataOutsideGuestRamFailsAndTheNextRequestStillWorks()
    {
        using var device = Start();
        ulong header = Header(BlkRequestType.In, 0);
        ulong status = _driver.Allocate(1, [0xff]);
        _driver.AddChain((header, 16, false), ((1 << 20) - 256, 512, true), (status, 1, true));
        ulong outHeader = Header(BlkRequestType.Out, 0);
        ulong outStatus = _driver.Allocate(1, [0xff]);
        _driver.AddChain((outHeader, 16, false), (0xFFFF_FFFF_0000, 512, false), (outStatus, 1, true));
        var (data, okStatus) = Submit(BlkRequestType.In, 1, 512, dataWritable: true);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.IoError, Status(status));
        Assert.Equal(BlkStatus.IoError, Status(outStatus));
        Assert.Equal(BlkStatus.Ok, Status(okStatus));
        Assert.Equal(_contents.AsSpan(512, 512).ToArray(), Memory.GetSpan(data, 512).ToArray());
        Assert.Equal(_contents, File.ReadAllBytes(_image)); // the bad write never reached the disk
    }

    [Fact]
    public void WriteToReadOnlyDiskFailsAndLeavesTheFileAlone()
    {
        using var device = Start(readOnly: true);
        Assert.NotEqual(0UL, device.DeviceFeatures & (1UL << VirtioBlkFeatures.ReadOnly));
        var (_, status) = Submit(BlkRequestType.Out, 0, 512, dataWritable: false, new byte[512]);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.IoError, Status(status));
        Assert.Equal(_contents, File.ReadAllBytes(_image));
    }

    [Fact]
    public void UnknownRequestTypeIsUnsupported()
    {
        using var device = Start();
        var (_, discard) = Submit(BlkRequestType.Discard, 0, 16, dataWritable: false, new byte[16]);
        var (_, odd) = Submit(0x7777, 0, 0, false);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.Unsupported, Status(discard));
        Assert.Equal(BlkStatus.Unsupported, Status(odd));
    }

    [Fact]
    public void MissingStatusByteReturnsTheChainWithLengthZero()
    {
        using var device = Start();
        ulong header = Header(BlkRequestType.In, 0);
        ushort head = _driver.AddChain((header, 16, false));
        var (_, okStatus) = Submit(BlkRequestType.Flush, 0, 0, false);
        device.ProcessQueue(0);
        Assert.Equal(((uint)head, 0u), _driver.Used(0));
        Assert.Equal(BlkStatus.Ok, Status(okStatus));
    }

    [Fact]
    public void ShortHeaderFailsWithIoError()
    {
        using var device = Start();
        ulong header = Header(BlkRequestType.In, 0);
        ulong status = _driver.Allocate(1, [0xff]);
        _driver.AddChain((header, 8, false), (status, 1, true));
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.IoError, Status(status));
    }

    [Fact]
    public void MalformedChainsDoNotStopTheDevice()
    {
        using var device = Start();
        // A loop: descriptor 0 -> 1 -> 0.
        _driver.WriteDescriptor(0, 0x10000, 16, SplitRingDriver.FlagNext, 1);
        _driver.WriteDescriptor(1, 0x10000, 16, SplitRingDriver.FlagNext, 0);
        _driver.Publish(0);
        // A head beyond the queue size.
        _driver.Publish(200);
        // An indirect table outside RAM.
        _driver.WriteDescriptor(2, 0xFFFF_0000_0000, 32, SplitRingDriver.FlagIndirect, 0);
        _driver.Publish(2);
        device.ProcessQueue(0);
        Assert.Equal(0, _driver.UsedIndex);
        Assert.Equal(3, _queue!.NextAvailable);
        // The driver's next good request is served.
        var driverForGood = _driver;
        ulong header = Header(BlkRequestType.In, 2);
        ulong data = driverForGood.Allocate(512);
        ulong status = driverForGood.Allocate(1, [0xff]);
        driverForGood.WriteDescriptor(4, header, 16, SplitRingDriver.FlagNext, 5);
        driverForGood.WriteDescriptor(5, data, 512, SplitRingDriver.FlagNext | SplitRingDriver.FlagWrite, 6);
        driverForGood.WriteDescriptor(6, status, 1, SplitRingDriver.FlagWrite, 0);
        driverForGood.Publish(4);
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.Ok, Status(status));
        Assert.Equal(_contents.AsSpan(1024, 512).ToArray(), Memory.GetSpan(data, 512).ToArray());
    }

    [Fact]
    public void ImpossibleAvailableIndexIsIgnoredWithoutSpinning()
    {
        using var device = Start();
        _driver.SetAvailableIndex(1000);
        device.ProcessQueue(0); // must return: nothing can be consumed
        Assert.Equal(0, _driver.UsedIndex);
        Assert.Equal(0, _queue!.NextAvailable);
    }

    [Fact]
    public void RequestFramingDoesNotMatter()
    {
        using var device = Start();
        // Header split over two descriptors and data spread over three, the status sharing the last.
        ulong header = Header(BlkRequestType.In, 3);
        ulong a = _driver.Allocate(100), b = _driver.Allocate(300), c = _driver.Allocate(113);
        _driver.AddChain((header, 10, false), (header + 10, 6, false), (a, 100, true), (b, 300, true), (c, 113, true));
        device.ProcessQueue(0);
        Assert.Equal(BlkStatus.Ok, Memory.Read<byte>(c + 112));
        byte[] got = [.. Memory.GetSpan(a, 100).ToArray(), .. Memory.GetSpan(b, 300).ToArray(), .. Memory.GetSpan(c, 112).ToArray()];
        Assert.Equal(_contents.AsSpan(3 * 512, 512).ToArray(), got);
        Assert.Equal(513u, _driver.Used(0).Length);
    }

    [Fact]
    public void ConfigSpaceReportsCapacityBlockSizeAndSegMax()
    {
        using var device = new VirtioBlkDevice(_image, false, "x", maxQueueSize: 128);
        Span<byte> config = stackalloc byte[64];
        device.ReadConfig(0, config);
        Assert.Equal((ulong)ImageSectors, BinaryPrimitives.ReadUInt64LittleEndian(config));
        Assert.Equal(126u, BinaryPrimitives.ReadUInt32LittleEndian(config[12..]));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32LittleEndian(config[20..]));
        Assert.Equal(0, config[60]);
        Span<byte> tail = stackalloc byte[8];
        device.ReadConfig(4, tail); // unaligned partial read of the capacity's high half
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(tail));
        Assert.Equal(0UL, device.DeviceFeatures & (1UL << VirtioBlkFeatures.ReadOnly));
        Assert.NotEqual(0UL, device.DeviceFeatures & (1UL << VirtioBlkFeatures.Version1));
        Assert.Equal(2u, device.DeviceType);
    }

    [Fact]
    public void OneInterruptPerBatchAndNoneWhenSuppressed()
    {
        using var device = Start(eventIndex: true);
        Submit(BlkRequestType.Flush, 0, 0, false);
        Submit(BlkRequestType.Flush, 0, 0, false);
        device.ProcessQueue(0);
        Assert.Equal(1, _interrupt.Signals);
        Assert.Equal(1, _interrupt.Raised);
        // The driver asks for an interrupt only after used index 10.
        _driver.SetUsedEvent(10);
        Submit(BlkRequestType.Flush, 0, 0, false);
        device.ProcessQueue(0);
        Assert.Equal(2, _interrupt.Signals);
        Assert.Equal(1, _interrupt.Raised);
    }

    [Fact]
    public void ProcessQueueAfterResetDoesNothing()
    {
        using var device = Start();
        device.Reset();
        Submit(BlkRequestType.Flush, 0, 0, false);
        device.ProcessQueue(0);
        Assert.Equal(0, _driver.UsedIndex);
    }

    [Fact]
    public void InvalidSerialIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new VirtioBlkDevice(_image, true, new string('x', 21)));
        Assert.Contains("serial", e.Message);
    }
}
