using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Tests;

public sealed class VirtqueueTests : IDisposable
{
    private readonly MemfdGuestMemory.Allocation _ram = MemfdGuestMemory.Create("vq-test", 1 << 20);
    private IGuestMemory Memory => _ram.Memory;

    public void Dispose() => _ram.Dispose();

    [Fact]
    public void PopsChainsInOrderAndPublishesUsed()
    {
        var driver = new SplitRingDriver(Memory, 8);
        var q = driver.CreateQueue();
        ushort a = driver.AddChain((0x10000, 16, false), (0x10010, 32, true));
        ushort b = driver.AddChain((0x10100, 8, false));
        Assert.True(q.TryPop(out var first));
        Assert.Equal(a, first.HeadIndex);
        Assert.Equal(2, first.Descriptors.Count);
        Assert.Equal(32, first.TotalWritableLength);
        Assert.True(q.TryPop(out var second));
        Assert.Equal(b, second.HeadIndex);
        Assert.False(q.TryPop(out _));
        q.PushUsed(first.HeadIndex, 5);
        Assert.Equal(1, driver.UsedIndex);
        Assert.Equal(((uint)a, 5u), driver.Used(0));
    }

    [Fact]
    public void NoInterruptFlagSuppressesSignalWithoutEventIndex()
    {
        var driver = new SplitRingDriver(Memory, 8);
        var q = driver.CreateQueue(eventIndex: false);
        driver.AddChain((0x10000, 16, false));
        Assert.True(q.TryPop(out var c));
        q.PushUsed(c.HeadIndex, 0);
        Assert.True(q.ShouldSignal());
        driver.SetNoInterrupt(true);
        driver.AddChain((0x10000, 16, false));
        Assert.True(q.TryPop(out c));
        q.PushUsed(c.HeadIndex, 0);
        Assert.False(q.ShouldSignal());
    }

    [Fact]
    public void EventIndexSignalsOnlyWhenUsedEventIsCrossed()
    {
        var driver = new SplitRingDriver(Memory, 8);
        var q = driver.CreateQueue(eventIndex: true);
        // The driver wants an interrupt once used.idx passes 2 (i.e. after the third buffer).
        driver.SetUsedEvent(2);
        driver.SetNoInterrupt(true); // must be ignored when event idx is negotiated
        for (int i = 0; i < 3; i++) driver.AddChain((0x10000, 16, false));
        var signals = new List<bool>();
        for (int i = 0; i < 3; i++)
        {
            Assert.True(q.TryPop(out var c));
            q.PushUsed(c.HeadIndex, 0);
            signals.Add(q.ShouldSignal());
        }
        // The very first check always signals (no previous state); then only the crossing of used_event.
        Assert.Equal([true, false, true], signals);
        // avail_event tells the driver how far the device has consumed.
        Assert.Equal(3, driver.AvailEvent);
    }

    [Fact]
    public void IndirectDescriptorTableIsFollowed()
    {
        var driver = new SplitRingDriver(Memory, 8);
        var q = driver.CreateQueue();
        ulong table = driver.Allocate(48);
        void Entry(int i, ulong addr, uint len, ushort flags, ushort next)
        {
            ulong e = table + 16UL * (ulong)i;
            Memory.Write(e, addr); Memory.Write(e + 8, len); Memory.Write(e + 12, flags); Memory.Write(e + 14, next);
        }
        Entry(0, 0x20000, 16, SplitRingDriver.FlagNext, 2);
        Entry(2, 0x20100, 512, SplitRingDriver.FlagNext | SplitRingDriver.FlagWrite, 1);
        Entry(1, 0x20400, 1, SplitRingDriver.FlagWrite, 0);
        driver.WriteDescriptor(0, table, 48, SplitRingDriver.FlagIndirect, 0);
        driver.Publish(0);
        Assert.True(q.TryPop(out var chain));
        Assert.Equal([0x20000UL, 0x20100UL, 0x20400UL], chain.Descriptors.Select(d => d.Address));
        Assert.Equal([false, true, true], chain.Descriptors.Select(d => d.IsDeviceWritable));
    }

    [Fact]
    public void NestedIndirectAndBadIndirectLengthAreRejected()
    {
        var driver = new SplitRingDriver(Memory, 8);
        var q = driver.CreateQueue();
        ulong table = driver.Allocate(16);
        Memory.Write(table, 0x20000UL); Memory.Write(table + 8, 16u); Memory.Write(table + 12, SplitRingDriver.FlagIndirect);
        driver.WriteDescriptor(0, table, 16, SplitRingDriver.FlagIndirect, 0);
        driver.Publish(0);
        Assert.Contains("nested", Assert.Throws<VirtqueueException>(() => q.TryPop(out _)).Message);
        driver.WriteDescriptor(1, table, 24, SplitRingDriver.FlagIndirect, 0);
        driver.Publish(1);
        Assert.Contains("multiple of 16", Assert.Throws<VirtqueueException>(() => q.TryPop(out _)).Message);
    }

    [Fact]
    public void AvailableIndexTooFarAheadIsRejected()
    {
        var driver = new SplitRingDriver(Memory, 8);
        var q = driver.CreateQueue();
        driver.SetAvailableIndex(9); // 9 buffers in an 8-entry ring: impossible
        var e = Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
        Assert.Contains("more than 8 ahead", e.Message);
        Assert.Equal(0, q.NextAvailable); // nothing consumed
    }

    [Fact]
    public void LoopingChainAndOutOfRangeHeadAreRejected()
    {
        var driver = new SplitRingDriver(Memory, 8);
        var q = driver.CreateQueue();
        driver.WriteDescriptor(0, 0x10000, 16, SplitRingDriver.FlagNext, 1);
        driver.WriteDescriptor(1, 0x10000, 16, SplitRingDriver.FlagNext, 0);
        driver.Publish(0);
        Assert.Contains("loops", Assert.Throws<VirtqueueException>(() => q.TryPop(out _)).Message);
        driver.Publish(8);
        Assert.Contains("out of range", Assert.Throws<VirtqueueException>(() => q.TryPop(out _)).Message);
    }

    [Fact]
    public void RingAreasOutsideRamAreRejectedAtConstruction()
    {
        var e = Assert.Throws<VirtqueueException>(() => new Virtqueue(Memory, 8, (1 << 20) - 64, 0x3000, 0x4000, false));
        Assert.Contains("descriptor table", e.Message);
        Assert.Throws<VirtqueueException>(() => new Virtqueue(Memory, 6, 0x1000, 0x3000, 0x4000, false));
    }
}
