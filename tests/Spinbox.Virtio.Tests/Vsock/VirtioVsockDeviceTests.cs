using System.Security.Cryptography;
using Spinbox.Virtio.Devices.Vsock;
using static Spinbox.Virtio.Tests.Vsock.VsockWire;

namespace Spinbox.Virtio.Tests.Vsock;

public sealed class VirtioVsockDeviceTests
{
    private const uint HostPort = 1024;
    private const uint GuestPort = 40000;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static Task<VsockStream> AcceptOne(VirtioVsockDevice device, uint port)
    {
        var accepted = new TaskCompletionSource<VsockStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.Listen(port, s => accepted.TrySetResult(s));
        return accepted.Task;
    }

    private static async Task<byte[]> ReadExactly(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).AsTask().WaitAsync(Timeout);
        return buffer;
    }

    [Fact]
    public void Identity_IsSocketDeviceWithVersion1AndGuestCidConfig()
    {
        using var device = new VirtioVsockDevice(0x0102_0307);
        Assert.Equal(19u, device.DeviceType);
        Assert.Equal(1UL << 32, device.DeviceFeatures);
        Assert.Equal(3, device.QueueCount);

        var config = new byte[12];
        device.ReadConfig(0, config);
        Assert.Equal(new byte[] { 7, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0 }, config);
        var half = new byte[4];
        device.ReadConfig(2, half); // Linux may read le64 config in pieces
        Assert.Equal(new byte[] { 2, 1, 0, 0 }, half);
        device.WriteConfig(0, new byte[8]);
        device.ReadConfig(0, config);
        Assert.Equal(7, config[0]);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(2UL)]
    [InlineData(0xFFFF_FFFFUL)]
    [InlineData(0x1_0000_0003UL)] // the upper 32 bits of guest_cid are reserved
    public void ReservedGuestCid_IsRejected(ulong cid) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new VirtioVsockDevice(cid));

    [Fact]
    public async Task GuestConnect_ToListeningPort_HandsOverStreamAndSendsResponse()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);

        var response = guest.Connect(GuestPort, HostPort, bufAlloc: 65536);

        Assert.Equal(OpResponse, response.Op);
        Assert.Equal(HostPort, response.SrcPort);
        Assert.Equal(GuestPort, response.DstPort);
        Assert.Equal(256u * 1024, response.BufAlloc);
        Assert.Equal(0u, response.FwdCnt);
        Assert.Equal(0u, response.Len);
        await using var stream = await accepted.WaitAsync(Timeout);
        Assert.Equal(HostPort, stream.LocalPort);
        Assert.Equal(GuestPort, stream.RemotePort);
        Assert.Equal(1, device.ConnectionCount);
        Assert.True(guest.Interrupt.Count(0) > 0, "rx interrupt raised for the RESPONSE");
    }

    [Fact]
    public async Task GuestRw_HostReadsExactBytes()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        var data = RandomNumberGenerator.GetBytes(10_000);
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, data[..1]));
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, data[1..4096]), splitHeader: false);
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, data[4096..]));

        Assert.Equal(data, await ReadExactly(stream, data.Length));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HostWrites1MiB_GuestReceivesAllInOrder_NeverBeyondItsCredit(bool splitRxBuffers)
    {
        const uint guestBufAlloc = 64 * 1024;
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device, rxBuffers: 128, splitRxBuffers);
        guest.Connect(GuestPort, HostPort, guestBufAlloc);
        await using var stream = await accepted.WaitAsync(Timeout);

        var data = RandomNumberGenerator.GetBytes(1024 * 1024);
        var writing = stream.WriteAsync(data).AsTask();

        var received = new MemoryStream();
        uint advertisedFwdCnt = 0;
        long maxInFlight = 0;
        int windows = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (received.Length < data.Length)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {received.Length} of {data.Length} bytes arrived");
            guest.Interrupt.RxSignalled.Wait(20);
            foreach (var p in guest.Drain())
            {
                Assert.Equal(OpRw, p.Op);
                Assert.Equal(GuestPort, p.DstPort);
                Assert.True(p.Payload.Length <= guest.RxPayloadSize);
                received.Write(p.Payload);
                long inFlight = received.Length - advertisedFwdCnt;
                Assert.True(inFlight <= guestBufAlloc, $"device sent {inFlight} unacknowledged bytes, credit is {guestBufAlloc}");
                maxInFlight = Math.Max(maxInFlight, inFlight);
            }
            if (received.Length - advertisedFwdCnt < guestBufAlloc) continue; // window not used up yet
            if (windows++ == 0)
                Assert.Empty(guest.Pending(50)); // with the window full, the device must stop and wait
            advertisedFwdCnt = (uint)received.Length; // the guest application read everything
            guest.Send(guest.Packet(OpCreditUpdate, GuestPort, HostPort, bufAlloc: guestBufAlloc, fwdCnt: advertisedFwdCnt));
        }

        await writing.WaitAsync(Timeout);
        Assert.Equal(data.Length, received.Length);
        Assert.Equal(data, received.ToArray());
        Assert.Equal(guestBufAlloc, maxInFlight);
        Assert.Equal(data.Length / (int)guestBufAlloc, windows);
    }

    [Fact]
    public async Task Guest1MiB_FollowingHostCredit_HostReadsAll()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        var response = guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        var data = RandomNumberGenerator.GetBytes(1024 * 1024);
        var reading = ReadExactly(stream, data.Length);
        uint peerBufAlloc = response.BufAlloc, peerFwdCnt = response.FwdCnt, txCnt = 0;
        int creditUpdates = 0;
        var deadline = DateTime.UtcNow + Timeout;
        while (txCnt < data.Length)
        {
            Assert.True(DateTime.UtcNow < deadline, $"stuck at {txCnt} bytes: no credit from the host");
            foreach (var p in guest.Drain())
            {
                Assert.Equal(OpCreditUpdate, p.Op);
                peerBufAlloc = p.BufAlloc;
                peerFwdCnt = p.FwdCnt;
                creditUpdates++;
            }
            uint credit = peerBufAlloc - (txCnt - peerFwdCnt);
            int n = (int)Math.Min(Math.Min(credit, 64 * 1024), (uint)(data.Length - txCnt));
            if (n == 0) { guest.Interrupt.RxSignalled.Wait(20); continue; }
            guest.Send(guest.Packet(OpRw, GuestPort, HostPort, data.AsSpan((int)txCnt, n).ToArray()));
            txCnt += (uint)n;
        }

        Assert.Equal(data, await reading);
        Assert.True(creditUpdates >= 3, $"1 MiB through a 256 KiB window needs credit updates, got {creditUpdates}");
    }

    [Fact]
    public async Task HostShutdownWrite_GuestSeesDataThenShutdownSend()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        await stream.WriteAsync("bye"u8.ToArray());
        stream.ShutdownWrite();

        var rw = guest.WaitFor(OpRw, GuestPort);
        Assert.Equal("bye"u8.ToArray(), rw.Payload);
        var shutdown = guest.WaitFor(OpShutdown, GuestPort);
        Assert.Equal(ShutdownSend, shutdown.Flags);
        await Assert.ThrowsAsync<InvalidOperationException>(() => stream.WriteAsync(new byte[1]).AsTask());

        // Half-close: the guest can still send and the host still reads.
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, "ok"u8.ToArray()));
        Assert.Equal("ok"u8.ToArray(), await ReadExactly(stream, 2));
    }

    [Fact]
    public async Task GuestShutdownSend_HostReadsDataThenZero_AndCanStillWrite()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        var pendingRead = stream.ReadAsync(new byte[16]).AsTask(); // blocked before any data
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, "x"u8.ToArray()));
        Assert.Equal(1, await pendingRead.WaitAsync(Timeout));
        guest.Send(guest.Packet(OpShutdown, GuestPort, HostPort, flags: ShutdownSend));

        Assert.Equal(0, await stream.ReadAsync(new byte[16]).AsTask().WaitAsync(Timeout));
        Assert.Equal(0, stream.Read(new byte[16]));
        await stream.WriteAsync("still"u8.ToArray());
        Assert.Equal("still"u8.ToArray(), guest.WaitFor(OpRw, GuestPort).Payload);
    }

    [Fact]
    public async Task GuestClose_ShutdownBoth_DeviceAnswersRst_HostSeesEof()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, "last"u8.ToArray()));
        guest.Send(guest.Packet(OpShutdown, GuestPort, HostPort, flags: ShutdownRcv | ShutdownSend));

        Assert.Equal(OpRst, guest.WaitFor(p => p.DstPort == GuestPort).Op);
        Assert.Equal(0, device.ConnectionCount);
        Assert.Equal("last"u8.ToArray(), await ReadExactly(stream, 4)); // data sent before the close survives
        Assert.Equal(0, await stream.ReadAsync(new byte[4]));
        await Assert.ThrowsAsync<IOException>(() => stream.WriteAsync(new byte[1]).AsTask());
    }

    [Fact]
    public async Task GuestReconnect_OnAHeldTuple_EndsTheOldStreamAndServesTheNewOne()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var streams = new List<VsockStream>();
        device.Listen(HostPort, s => { lock (streams) streams.Add(s); });
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await WaitUntil(() => { lock (streams) return streams.Count == 1; });

        Assert.Equal(OpResponse, guest.Connect(GuestPort, HostPort).Op);

        await WaitUntil(() => { lock (streams) return streams.Count == 2; });
        Assert.Equal(0, await streams[0].ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout));
        Assert.Equal(1, device.ConnectionCount);
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, "new"u8.ToArray()));
        Assert.Equal("new"u8.ToArray(), await ReadExactly(streams[1], 3));
    }

    [Fact]
    public void GuestConnect_WithoutListener_GetsRst()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        using var guest = new TestGuest(device);

        var answer = guest.Connect(GuestPort, 999);

        Assert.Equal(OpRst, answer.Op);
        Assert.Equal(999u, answer.SrcPort);
        Assert.Equal(GuestPort, answer.DstPort);
        Assert.Equal(0, device.ConnectionCount);
    }

    [Fact]
    public async Task StoppedListener_RefusesNewConnections()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        using var guest = new TestGuest(device);
        var listener = device.Listen(HostPort, _ => { });
        Assert.Throws<InvalidOperationException>(() => device.Listen(HostPort, _ => { }));
        listener.Dispose();

        Assert.Equal(OpRst, guest.Connect(GuestPort, HostPort).Op);
        var accepted = AcceptOne(device, HostPort); // the port can be listened on again
        Assert.Equal(OpResponse, guest.Connect(GuestPort + 1, HostPort).Op);
        await using var stream = await accepted.WaitAsync(Timeout);
        Assert.Equal(GuestPort + 1, stream.RemotePort);
    }

    [Fact]
    public async Task RwForUnknownConnection_GetsRst()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        using var guest = new TestGuest(device);
        device.Listen(HostPort, _ => { });

        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, "stray"u8.ToArray()));
        var rst = guest.WaitFor(OpRst, GuestPort);
        Assert.Equal(HostPort, rst.SrcPort);

        guest.Send(guest.Packet(OpRst, GuestPort, HostPort));
        Assert.Empty(guest.Pending()); // an RST is never answered
        await Task.CompletedTask;
    }

    [Fact]
    public async Task GarbagePackets_DoNotCrash_AndLeaveOtherConnectionsWorking()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        // A chain shorter than a header.
        guest.SendRaw(GuestVirtqueue.Part.Readable(new byte[10]));
        // len says 1000 but the chain carries 10 payload bytes.
        guest.Send(guest.Packet(OpRw, 7, HostPort, new byte[10]) with { LenOverride = 1000 });
        // len beyond the 64 KiB packet limit.
        guest.Send(guest.Packet(OpRw, 7, HostPort, new byte[10]) with { LenOverride = 0xFFFF_FFFF });
        // Wrong destination CID and wrong source CID: ignored.
        guest.Send(guest.Packet(OpRequest, 8, HostPort) with { DstCid = 5 });
        guest.Send(guest.Packet(OpRequest, 8, HostPort) with { SrcCid = 4 });
        // Payload descriptor pointing outside guest RAM (the header is fine: RW for an unknown connection, so RST).
        guest.SendRaw(GuestVirtqueue.Part.Readable(EncodeHeader(guest.Packet(OpRw, 9, HostPort) with { LenOverride = 16 })),
            new GuestVirtqueue.Part(null, 16, false, RawAddress: 0xdead_0000_0000));
        // A write-only descriptor in a tx chain: no readable header at all.
        guest.SendRaw(GuestVirtqueue.Part.WritableOf(64));
        // Unknown op on an unknown connection.
        guest.Send(guest.Packet(99, 10, HostPort));
        // Wrong socket type: reset, like Linux does.
        guest.Send(guest.Packet(OpRequest, 11, HostPort) with { Type = 7 });
        // An rx buffer outside guest RAM: the device returns it empty and moves on.
        guest.Rx.Add(new GuestVirtqueue.Part(null, 4096, true, RawAddress: 0xdead_0000_0000));
        device.ProcessQueue(0);

        var rstPorts = guest.Pending().Where(p => p.Op == OpRst).Select(p => p.DstPort).Order().ToArray();
        Assert.Equal(new uint[] { 9, 10, 11 }, rstPorts);
        Assert.Equal(1, device.ConnectionCount);

        // The good connection still works both ways.
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, "alive"u8.ToArray()));
        Assert.Equal("alive"u8.ToArray(), await ReadExactly(stream, 5));
        await stream.WriteAsync("pong"u8.ToArray());
        Assert.Equal("pong"u8.ToArray(), guest.WaitFor(OpRw, GuestPort).Payload);
    }

    [Fact]
    public async Task BadLenOnOpenConnection_ResetsOnlyThatConnection()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var streams = new List<VsockStream>();
        device.Listen(HostPort, s => { lock (streams) streams.Add(s); });
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        guest.Connect(GuestPort + 1, HostPort);

        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, new byte[10]) with { LenOverride = 1000 });

        Assert.Equal(OpRst, guest.WaitFor(p => p.DstPort == GuestPort).Op);
        Assert.Equal(1, device.ConnectionCount);
        guest.Send(guest.Packet(OpRw, GuestPort + 1, HostPort, "fine"u8.ToArray()));
        await WaitUntil(() => { lock (streams) return streams.Count == 2; });
        VsockStream other;
        lock (streams) other = streams.Single(s => s.RemotePort == GuestPort + 1);
        Assert.Equal("fine"u8.ToArray(), await ReadExactly(other, 4));
    }

    [Fact]
    public async Task GuestExceedingCredit_IsReset()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid) { BufferSize = 8192 };
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        var response = guest.Connect(GuestPort, HostPort);
        Assert.Equal(8192u, response.BufAlloc);
        await using var stream = await accepted.WaitAsync(Timeout);

        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, new byte[8192])); // exactly the window: fine
        Assert.Empty(guest.Pending(50));
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, new byte[1])); // one byte beyond it

        Assert.Equal(OpRst, guest.WaitFor(p => p.DstPort == GuestPort).Op);
        Assert.Equal(0, device.ConnectionCount);
        Assert.Equal(8192, (await ReadExactly(stream, 8192)).Length);
        Assert.Equal(0, await stream.ReadAsync(new byte[1]));
    }

    [Fact]
    public async Task HostReads_SendCreditUpdate_AndCreditRequestIsAnswered()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid) { BufferSize = 16384 };
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, new byte[16384]));
        Assert.Empty(guest.Pending(50));
        await ReadExactly(stream, 16384);
        var update = guest.WaitFor(OpCreditUpdate, GuestPort);
        Assert.Equal(16384u, update.FwdCnt);
        Assert.Equal(16384u, update.BufAlloc);

        guest.Send(guest.Packet(OpCreditRequest, GuestPort, HostPort));
        Assert.Equal(16384u, guest.WaitFor(OpCreditUpdate, GuestPort).FwdCnt);
    }

    [Fact]
    public async Task HostConnect_SendsRequest_GuestResponseCompletesIt()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        using var guest = new TestGuest(device);

        var connecting = device.ConnectAsync(5555, CancellationToken.None);
        var request = guest.WaitFor(OpRequest, 5555);
        Assert.True(request.SrcPort >= 1024, $"ephemeral port {request.SrcPort}");
        Assert.Equal(256u * 1024, request.BufAlloc);
        Assert.False(connecting.IsCompleted);

        guest.Send(new GuestPacket(TestGuest.Cid, TestGuest.HostCid, 5555, request.SrcPort, TypeStream, OpResponse, 0, 65536, 0, []));
        await using var stream = await connecting.WaitAsync(Timeout);
        Assert.Equal(5555u, stream.RemotePort);
        Assert.Equal(request.SrcPort, stream.LocalPort);

        await stream.WriteAsync("hi"u8.ToArray());
        var rw = guest.WaitFor(OpRw, 5555);
        Assert.Equal("hi"u8.ToArray(), rw.Payload);
        Assert.Equal(request.SrcPort, rw.SrcPort);
        guest.Send(new GuestPacket(TestGuest.Cid, TestGuest.HostCid, 5555, request.SrcPort, TypeStream, OpRw, 0, 65536, 2, "yo"u8.ToArray()));
        Assert.Equal("yo"u8.ToArray(), await ReadExactly(stream, 2));
    }

    [Fact]
    public async Task HostConnect_BeforeActivation_GoesOutOnceTheDriverIsReady()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var connecting = device.ConnectAsync(6000, CancellationToken.None);
        using var guest = new TestGuest(device);
        var request = guest.WaitFor(OpRequest, 6000);
        guest.Send(new GuestPacket(TestGuest.Cid, TestGuest.HostCid, 6000, request.SrcPort, TypeStream, OpResponse, 0, 65536, 0, []));
        await using var stream = await connecting.WaitAsync(Timeout);
        Assert.Equal(6000u, stream.RemotePort);
    }

    [Fact]
    public async Task HostConnect_GuestRst_Fails()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        using var guest = new TestGuest(device);
        var connecting = device.ConnectAsync(5555, CancellationToken.None);
        var request = guest.WaitFor(OpRequest, 5555);

        guest.Send(new GuestPacket(TestGuest.Cid, TestGuest.HostCid, 5555, request.SrcPort, TypeStream, OpRst, 0, 0, 0, []));

        var error = await Assert.ThrowsAsync<IOException>(() => connecting.WaitAsync(Timeout));
        Assert.Contains("5555", error.Message);
        Assert.Equal(0, device.ConnectionCount);
    }

    [Fact]
    public async Task HostConnect_NoAnswer_TimesOutAndResetsTheGuestSide()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid) { ConnectTimeout = TimeSpan.FromMilliseconds(200) };
        using var guest = new TestGuest(device);
        var connecting = device.ConnectAsync(5555, CancellationToken.None);
        var request = guest.WaitFor(OpRequest, 5555);

        await Assert.ThrowsAsync<TimeoutException>(() => connecting.WaitAsync(Timeout));
        var rst = guest.WaitFor(OpRst, 5555);
        Assert.Equal(request.SrcPort, rst.SrcPort);
        Assert.Equal(0, device.ConnectionCount);
    }

    [Fact]
    public async Task HostConnect_Cancelled_Throws()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        using var guest = new TestGuest(device);
        using var cts = new CancellationTokenSource();
        var connecting = device.ConnectAsync(5555, cts.Token);
        guest.WaitFor(OpRequest, 5555);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting.WaitAsync(Timeout));
        Assert.Equal(0, device.ConnectionCount);
    }

    [Fact]
    public async Task DeviceReset_AllStreamsSeeEof_AndWritesFail()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);
        var pendingRead = stream.ReadAsync(new byte[8]).AsTask();
        var pendingConnect = device.ConnectAsync(7000, CancellationToken.None);

        device.Reset();

        Assert.Equal(0, await pendingRead.WaitAsync(Timeout));
        await Assert.ThrowsAsync<IOException>(() => stream.WriteAsync(new byte[1]).AsTask());
        await Assert.ThrowsAsync<IOException>(() => pendingConnect.WaitAsync(Timeout));
        Assert.Equal(0, device.ConnectionCount);
        device.ProcessQueue(1); // kicks after reset are ignored, not a crash
    }

    [Fact]
    public async Task HostDispose_SendsShutdownBoth_GuestRstFreesPort()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        var stream = await accepted.WaitAsync(Timeout);

        await stream.WriteAsync("tail"u8.ToArray());
        await stream.DisposeAsync();

        Assert.Equal("tail"u8.ToArray(), guest.WaitFor(OpRw, GuestPort).Payload); // buffered data goes first
        Assert.Equal(ShutdownRcv | ShutdownSend, guest.WaitFor(OpShutdown, GuestPort).Flags);
        Assert.Equal(1, device.ConnectionCount);
        guest.Send(guest.Packet(OpRst, GuestPort, HostPort));
        Assert.Equal(0, device.ConnectionCount);
        Assert.Throws<ObjectDisposedException>(() => stream.Read(new byte[1]));
    }

    [Fact]
    public async Task HostDispose_GuestSilent_RstAfterCloseTimeout()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid) { CloseTimeout = TimeSpan.FromMilliseconds(200) };
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        var stream = await accepted.WaitAsync(Timeout);

        stream.Dispose();
        guest.WaitFor(OpShutdown, GuestPort);
        Assert.Equal(OpRst, guest.WaitFor(p => p.DstPort == GuestPort).Op);
        Assert.Equal(0, device.ConnectionCount);
    }

    [Fact]
    public async Task NoRxBuffers_WriteBlocksUntilGuestPostsThem()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid) { BufferSize = 4096 };
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device, rxBuffers: 1);
        guest.AutoRefill = false;
        guest.Connect(GuestPort, HostPort);
        await using var stream = await accepted.WaitAsync(Timeout);

        var writing = stream.WriteAsync(new byte[3 * 4096]).AsTask();
        await Task.Delay(200);
        Assert.False(writing.IsCompleted, "12 KiB cannot fit a 4 KiB send buffer with no rx buffers posted");

        var got = 0;
        while (got < 3 * 4096)
        {
            guest.PostRxBuffers(1); // one buffer at a time, each answered by one packet
            got += guest.WaitFor(OpRw, GuestPort).Payload.Length;
        }
        await writing.WaitAsync(Timeout);
        Assert.Equal(3 * 4096, got);
    }

    [Fact]
    public async Task TinyRxBuffer_IsReturnedEmpty_NextBufferCarriesThePacket()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device, rxBuffers: 0);
        guest.Rx.Add(GuestVirtqueue.Part.WritableOf(20)); // smaller than a header
        guest.PostRxBuffers(4);

        Assert.Equal(OpResponse, guest.Connect(GuestPort, HostPort).Op);
        Assert.Equal(1, guest.EmptyRxBuffers);
        await using var stream = await accepted.WaitAsync(Timeout);
    }

    [Fact]
    public async Task SyncReadAndWrite_Work()
    {
        using var device = new VirtioVsockDevice(TestGuest.Cid);
        var accepted = AcceptOne(device, HostPort);
        using var guest = new TestGuest(device);
        guest.Connect(GuestPort, HostPort);
        using var stream = await accepted.WaitAsync(Timeout);

        stream.Write("sync"u8);
        Assert.Equal("sync"u8.ToArray(), guest.WaitFor(OpRw, GuestPort).Payload);
        var reader = Task.Run(() => { var b = new byte[4]; stream.ReadExactly(b); return b; });
        guest.Send(guest.Packet(OpRw, GuestPort, HostPort, "back"u8.ToArray()));
        Assert.Equal("back"u8.ToArray(), await reader.WaitAsync(Timeout));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(10);
        }
    }
}
