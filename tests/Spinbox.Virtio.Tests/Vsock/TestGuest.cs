using Spinbox.Virtio.Devices.Vsock;
using Spinbox.Virtio.Memory;

namespace Spinbox.Virtio.Tests.Vsock;

/// <summary>
/// Counts interrupts per queue, consulting the queue's ShouldSignal (interrupt suppression) as the vhost-user
/// and mmio transports do, and lets the guest wait for the next rx one.
/// </summary>
internal sealed class RecordingInterrupt(Func<int, Spinbox.Virtio.Queue.Virtqueue> queue) : IInterruptSignal
{
    private readonly int[] _counts = new int[3];
    public SemaphoreSlim RxSignalled { get; } = new(0);

    public int Count(int queueIndex) => Volatile.Read(ref _counts[queueIndex]);

    public void Signal(int queueIndex)
    {
        if (!queue(queueIndex).ShouldSignal()) return;
        Interlocked.Increment(ref _counts[queueIndex]);
        if (queueIndex == 0) RxSignalled.Release();
    }
}

/// <summary>
/// Plays the guest's virtio-vsock driver against a device: guest RAM in a memfd, three rings, rx buffers
/// posted (header and payload split over two descriptors like Linux 6.1, or one descriptor like later kernels),
/// packets sent on tx, packets collected from rx.
/// </summary>
internal sealed class TestGuest : IDisposable
{
    public const ulong Cid = 3;
    public const ulong HostCid = 2;
    private const ushort QueueSize = 256;
    private const uint SlotSize = 68 * 1024;
    private const ulong RamBase = 0x10_0000;

    private readonly MemfdGuestMemory.Allocation _ram;
    private readonly List<GuestPacket> _inbox = new();

    public TestGuest(VirtioVsockDevice device, int rxBuffers = 64, bool splitRxBuffers = true, int rxPayloadSize = 4096)
    {
        Device = device;
        SplitRxBuffers = splitRxBuffers;
        RxPayloadSize = rxPayloadSize;
        ulong ring = GuestVirtqueue.RingBytes(QueueSize);
        ulong slots = (ulong)QueueSize * SlotSize;
        ulong size = 3 * (ring + slots);
        _ram = MemfdGuestMemory.Create("vsock-test-guest", size, RamBase);
        Memory = _ram.Memory;
        ulong at = RamBase;
        GuestVirtqueue Next() { var q = new GuestVirtqueue(Memory, at, QueueSize, at + ring, SlotSize); at += ring + slots; return q; }
        Rx = Next();
        Tx = Next();
        Event = Next();
        var queues = new[] { Rx, Tx, Event };
        Interrupt = new RecordingInterrupt(i => queues[i].DeviceView);
        device.Activate(Memory, 1UL << 32, [Rx.DeviceView, Tx.DeviceView, Event.DeviceView], Interrupt);
        PostRxBuffers(rxBuffers);
    }

    public VirtioVsockDevice Device { get; }
    public IGuestMemory Memory { get; }
    public GuestVirtqueue Rx { get; }
    public GuestVirtqueue Tx { get; }
    public GuestVirtqueue Event { get; }
    public RecordingInterrupt Interrupt { get; }
    public bool SplitRxBuffers { get; set; }
    public int RxPayloadSize { get; set; }

    /// <summary>Repost a fresh rx buffer for every one the device used (as the Linux driver does).</summary>
    public bool AutoRefill { get; set; } = true;

    /// <summary>Buffers the device returned with zero length (unusable or faulted).</summary>
    public int EmptyRxBuffers { get; private set; }

    public void PostRxBuffers(int count)
    {
        for (int i = 0; i < count; i++) AddRxBuffer();
        Device.ProcessQueue(0);
    }

    private void AddRxBuffer()
    {
        if (SplitRxBuffers)
            Rx.Add(GuestVirtqueue.Part.WritableOf(VsockWire.HeaderSize), GuestVirtqueue.Part.WritableOf((uint)RxPayloadSize));
        else
            Rx.Add(GuestVirtqueue.Part.WritableOf((uint)(VsockWire.HeaderSize + RxPayloadSize)));
    }

    public GuestPacket Packet(ushort op, uint srcPort, uint dstPort, byte[]? payload = null, uint flags = 0,
        uint bufAlloc = 256 * 1024, uint fwdCnt = 0) =>
        new(Cid, HostCid, srcPort, dstPort, VsockWire.TypeStream, op, flags, bufAlloc, fwdCnt, payload ?? []);

    /// <summary>Puts one packet on the tx queue (header and payload in separate descriptors unless told otherwise) and kicks.</summary>
    public void Send(GuestPacket packet, bool splitHeader = true)
    {
        var header = VsockWire.EncodeHeader(packet);
        if (packet.Payload.Length == 0) Tx.Add(GuestVirtqueue.Part.Readable(header));
        else if (splitHeader) Tx.Add(GuestVirtqueue.Part.Readable(header), GuestVirtqueue.Part.Readable(packet.Payload));
        else Tx.Add(GuestVirtqueue.Part.Readable([.. header, .. packet.Payload]));
        KickTx();
    }

    /// <summary>Puts a hand-made chain on the tx queue and kicks (for malformed packets).</summary>
    public void SendRaw(params GuestVirtqueue.Part[] parts)
    {
        Tx.Add(parts);
        KickTx();
    }

    private void KickTx()
    {
        Device.ProcessQueue(1);
        // The device completes tx chains synchronously in its kick handler.
        while (Tx.TryTakeUsed(out ushort head, out uint length))
        {
            Assert.Equal(0u, length);
            Tx.Free(head);
        }
    }

    /// <summary>Collects every packet the device has put on rx so far.</summary>
    public List<GuestPacket> Drain()
    {
        var result = new List<GuestPacket>();
        int refill = 0;
        while (Rx.TryTakeUsed(out ushort head, out uint length))
        {
            var bytes = Rx.ReadWrittenAndFree(head, length);
            if (length == 0) EmptyRxBuffers++;
            else result.Add(VsockWire.Decode(bytes));
            refill++;
        }
        if (AutoRefill && refill > 0)
        {
            for (int i = 0; i < refill; i++) AddRxBuffer();
            Device.ProcessQueue(0);
        }
        foreach (var p in result)
        {
            Assert.Equal(HostCid, p.SrcCid);
            Assert.Equal(Cid, p.DstCid);
            Assert.Equal(VsockWire.TypeStream, p.Type);
        }
        return result;
    }

    /// <summary>Waits for the first packet matching <paramref name="match"/>, keeping the others for later calls.</summary>
    public GuestPacket WaitFor(Func<GuestPacket, bool> match, int timeoutMs = 5000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            _inbox.AddRange(Drain());
            int i = _inbox.FindIndex(p => match(p));
            if (i >= 0)
            {
                var found = _inbox[i];
                _inbox.RemoveAt(i);
                return found;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                Assert.Fail($"no matching packet within {timeoutMs} ms; received: [{string.Join("; ", _inbox)}]");
            Interrupt.RxSignalled.Wait(TimeSpan.FromMilliseconds(Math.Min(50, left.TotalMilliseconds)));
        }
    }

    public GuestPacket WaitFor(ushort op, uint guestPort, int timeoutMs = 5000) =>
        WaitFor(p => p.Op == op && p.DstPort == guestPort, timeoutMs);

    /// <summary>Packets received so far and not taken by WaitFor, after waiting <paramref name="settleMs"/> for stragglers.</summary>
    public List<GuestPacket> Pending(int settleMs = 100)
    {
        Thread.Sleep(settleMs);
        _inbox.AddRange(Drain());
        var all = _inbox.ToList();
        _inbox.Clear();
        return all;
    }

    /// <summary>Connects guest port <paramref name="guestPort"/> to host port <paramref name="hostPort"/> and waits for RESPONSE.</summary>
    public GuestPacket Connect(uint guestPort, uint hostPort, uint bufAlloc = 256 * 1024)
    {
        Send(Packet(VsockWire.OpRequest, guestPort, hostPort, bufAlloc: bufAlloc));
        return WaitFor(p => p.DstPort == guestPort && p.SrcPort == hostPort && p.Op is VsockWire.OpResponse or VsockWire.OpRst);
    }

    public void Dispose()
    {
        Device.Reset(); // detach the device before its rings' memory goes away
        _ram.Dispose();
    }
}
