using System.Buffers.Binary;
using Spinbox.Virtio.Devices.Blk;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.VhostUser;

namespace Spinbox.Virtio.Tests.VhostUser;

/// <summary>Drives the back end over a real unix socket with real memfd and eventfds, as QEMU would.</summary>
public sealed class VhostUserBackendTests : IDisposable
{
    private const ushort QueueSize = 16;
    private readonly string _dir = Directory.CreateTempSubdirectory("spinbox-vu-").FullName;
    private readonly string _image;
    private readonly byte[] _contents = new byte[64 * 512];
    private readonly MemfdGuestMemory.Allocation _ram = MemfdGuestMemory.Create("vu-test", 1 << 20);
    private readonly VirtioBlkDevice _device;
    private readonly VhostUserBackend _backend;
    private readonly Task _run;
    private readonly TestFrontEnd _frontEnd;
    private readonly SplitRingDriver _driver;
    private readonly OwnedFd _kick = UnixInterop.CreateEventFd();
    private readonly OwnedFd _call = UnixInterop.CreateEventFd();

    public VhostUserBackendTests()
    {
        _image = Path.Combine(_dir, "disk.img");
        for (int i = 0; i < _contents.Length; i++) _contents[i] = (byte)(i ^ (i >> 9));
        File.WriteAllBytes(_image, _contents);
        _device = new VirtioBlkDevice(_image, readOnly: false, serial: "vu-disk");
        _backend = new VhostUserBackend(_device, SocketPath);
        _run = _backend.RunAsync();
        _frontEnd = new TestFrontEnd(SocketPath);
        _driver = new SplitRingDriver(_ram.Memory, QueueSize);
    }

    private string SocketPath => Path.Combine(_dir, "blk.sock");

    /// <summary>The front end's virtual address for a guest-physical one: our own mapping of the memfd.</summary>
    private ulong FrontEnd(ulong gpa) => (ulong)_ram.HostAddress + gpa;

    public void Dispose()
    {
        _frontEnd.Dispose();
        _backend.Dispose();
        _device.Dispose();
        _kick.Dispose();
        _call.Dispose();
        _ram.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private void Negotiate(bool eventIndex = false)
    {
        ulong features = _frontEnd.Query(VhostUserRequest.GetFeatures);
        Assert.NotEqual(0UL, features & (1UL << 30));
        Assert.NotEqual(0UL, features & (1UL << 32));
        ulong protocol = _frontEnd.Query(VhostUserRequest.GetProtocolFeatures);
        Assert.NotEqual(0UL, protocol & (1UL << VhostUserProtocol.ProtocolConfig));
        Assert.NotEqual(0UL, protocol & (1UL << VhostUserProtocol.ProtocolReplyAck));
        _frontEnd.SendU64(VhostUserRequest.SetProtocolFeatures, protocol);
        _frontEnd.Send(VhostUserRequest.SetOwner, []);
        ulong wanted = (1UL << 30) | (1UL << 32) | (eventIndex ? 1UL << 29 : 0);
        _frontEnd.SendU64(VhostUserRequest.SetFeatures, wanted & features);
    }

    private void SendMemTable()
    {
        var p = new byte[8 + 32];
        BinaryPrimitives.WriteUInt32LittleEndian(p, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(8), 0);                       // guest address
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(16), _ram.Size);              // size
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(24), FrontEnd(0));            // user address
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(32), 0);                      // mmap offset
        _frontEnd.Send(VhostUserRequest.SetMemTable, p, [_ram.Fd], needReply: true);
        Assert.Equal(0UL, _frontEnd.ReceiveU64(VhostUserRequest.SetMemTable));
    }

    private void SendVringAddr(uint index, ulong desc, ulong used, ulong avail)
    {
        var p = new byte[40];
        BinaryPrimitives.WriteUInt32LittleEndian(p, index);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(8), desc);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(16), used);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(24), avail);
        _frontEnd.Send(VhostUserRequest.SetVringAddr, p);
    }

    private void StartRing(ushort vringBase = 0, bool eventIndex = false)
    {
        Negotiate(eventIndex);
        SendMemTable();
        _frontEnd.SendState(VhostUserRequest.SetVringNum, 0, QueueSize);
        _frontEnd.SendState(VhostUserRequest.SetVringBase, 0, vringBase);
        SendVringAddr(0, FrontEnd(_driver.DescriptorTable), FrontEnd(_driver.UsedRing), FrontEnd(_driver.AvailableRing));
        _frontEnd.SendU64(VhostUserRequest.SetVringKick, 0, [_kick.Fd]);
        _frontEnd.SendU64(VhostUserRequest.SetVringCall, 0, [_call.Fd]);
        Assert.False(_backend.IsDeviceActive); // F_PROTOCOL_FEATURES acked: rings start disabled
        _frontEnd.SendState(VhostUserRequest.SetVringEnable, 0, 1, needReply: true);
        Assert.Equal(0UL, _frontEnd.ReceiveU64(VhostUserRequest.SetVringEnable));
        Assert.True(_backend.IsDeviceActive);
    }

    private (ulong Data, ulong Status) SubmitRead(ulong sector)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), sector);
        ulong h = _driver.Allocate(16, header);
        ulong data = _driver.Allocate(512);
        ulong status = _driver.Allocate(1, [0xff]);
        _driver.AddChain((h, 16, false), (data, 512, true), (status, 1, true));
        return (data, status);
    }

    private bool WaitCall(int timeoutMs = 5000)
    {
        Span<UnixInterop.PollFd> p = [new UnixInterop.PollFd { Fd = _call.Fd, Events = UnixInterop.POLLIN }];
        bool ready = UnixInterop.Poll(p, timeoutMs);
        if (ready) UnixInterop.DrainEventFd(_call);
        return ready;
    }

    private void AssertDropped()
    {
        Assert.True(_frontEnd.WaitClosed(), "the back end should close the connection");
        Assert.True(_run.Wait(5000), "RunAsync should complete after dropping the front end");
        Assert.False(_backend.IsDeviceActive);
    }

    [Fact]
    public void KickRunsTheDeviceAndCallSignalsCompletion()
    {
        StartRing();
        Assert.False(File.Exists(SocketPath)); // one front end only: the socket is gone once connected
        var (data, status) = SubmitRead(3);
        UnixInterop.SignalEventFd(_kick);
        Assert.True(WaitCall(), "no call eventfd signal after the kick");
        Assert.Equal(1, _driver.UsedIndex);
        Assert.Equal(BlkStatus.Ok, _ram.Memory.Read<byte>(status));
        Assert.Equal(_contents.AsSpan(3 * 512, 512).ToArray(), _ram.Memory.GetSpan(data, 512).ToArray());
    }

    [Fact]
    public void EventIndexIsNegotiatedAndHonoured()
    {
        StartRing(eventIndex: true);
        SubmitRead(0);
        UnixInterop.SignalEventFd(_kick);
        Assert.True(WaitCall());
        Assert.Equal(1, _driver.AvailEvent); // the device publishes avail_event only with EVENT_IDX
        _driver.SetUsedEvent(5); // no interrupt wanted until used index passes 5
        SubmitRead(1);
        UnixInterop.SignalEventFd(_kick);
        SpinWait.SpinUntil(() => _driver.UsedIndex == 2, 5000);
        Assert.Equal(2, _driver.UsedIndex);
        Assert.False(WaitCall(200));
    }

    [Fact]
    public void GetVringBaseStopsTheRingAndReportsTheNextAvailableIndex()
    {
        StartRing(vringBase: 0);
        SubmitRead(0);
        SubmitRead(1);
        UnixInterop.SignalEventFd(_kick);
        Assert.True(WaitCall());
        SpinWait.SpinUntil(() => _driver.UsedIndex == 2, 5000);
        _frontEnd.SendState(VhostUserRequest.GetVringBase, 0, 0);
        var reply = _frontEnd.Receive() ?? throw new InvalidOperationException("no GET_VRING_BASE reply");
        Assert.Equal(VhostUserRequest.GetVringBase, reply.Request);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(reply.Payload));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(reply.Payload.AsSpan(4)));
        Assert.False(_backend.IsDeviceActive);
        // A stopped ring ignores kicks.
        SubmitRead(2);
        UnixInterop.SignalEventFd(_kick);
        Assert.False(WaitCall(200));
        Assert.Equal(2, _driver.UsedIndex);
    }

    [Fact]
    public void DisabledRingIgnoresKicksUntilEnabledAgain()
    {
        StartRing();
        _frontEnd.SendState(VhostUserRequest.SetVringEnable, 0, 0, needReply: true);
        Assert.Equal(0UL, _frontEnd.ReceiveU64(VhostUserRequest.SetVringEnable));
        var (_, status) = SubmitRead(0);
        UnixInterop.SignalEventFd(_kick);
        Assert.False(WaitCall(300));
        Assert.Equal(0, _driver.UsedIndex);
        _frontEnd.SendState(VhostUserRequest.SetVringEnable, 0, 1);
        Assert.True(WaitCall());
        Assert.Equal(1, _driver.UsedIndex);
        Assert.Equal(BlkStatus.Ok, _ram.Memory.Read<byte>(status));
    }

    [Fact]
    public void RestartContinuesFromTheGivenBase()
    {
        // The guest already consumed 3 buffers before this back end took over.
        for (int i = 0; i < 3; i++) SubmitRead(0);
        _ram.Memory.Write<ushort>(_driver.UsedRing + 2, 3);
        var (data, status) = SubmitRead(7);
        StartRing(vringBase: 3); // activation looks at the queue once: the pending request is served
        Assert.True(WaitCall());
        Assert.Equal(4, _driver.UsedIndex);
        Assert.Equal(BlkStatus.Ok, _ram.Memory.Read<byte>(status));
        Assert.Equal(_contents.AsSpan(7 * 512, 512).ToArray(), _ram.Memory.GetSpan(data, 512).ToArray());
    }

    [Fact]
    public void GetConfigReturnsTheDeviceConfigSpace()
    {
        Negotiate();
        var p = new byte[12 + 60];
        BinaryPrimitives.WriteUInt32LittleEndian(p.AsSpan(4), 60);
        _frontEnd.Send(VhostUserRequest.GetConfig, p);
        var reply = _frontEnd.Receive() ?? throw new InvalidOperationException("no GET_CONFIG reply");
        Assert.Equal(72, reply.Payload.Length);
        Assert.Equal(64UL, BinaryPrimitives.ReadUInt64LittleEndian(reply.Payload.AsSpan(12)));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32LittleEndian(reply.Payload.AsSpan(12 + 20)));
        Assert.Equal(1UL, _frontEnd.Query(VhostUserRequest.GetQueueNum));
    }

    [Fact]
    public void UnknownRequestIsAnsweredWithFailureAndTheConnectionSurvives()
    {
        Negotiate();
        _frontEnd.Send((VhostUserRequest)99, [], needReply: true);
        Assert.Equal(1UL, _frontEnd.ReceiveU64((VhostUserRequest)99));
        Assert.NotEqual(0UL, _frontEnd.Query(VhostUserRequest.GetFeatures));
    }

    [Fact]
    public void WrongVersionDropsTheConnection()
    {
        _frontEnd.Send(VhostUserRequest.GetFeatures, [], flags: 2);
        AssertDropped();
    }

    [Fact]
    public void OversizedPayloadDropsTheConnection()
    {
        var header = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)VhostUserRequest.SetFeatures);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), 1 << 20);
        _frontEnd.SendRaw(header);
        AssertDropped();
    }

    [Fact]
    public void WrongPayloadSizeDropsTheConnection()
    {
        _frontEnd.Send(VhostUserRequest.SetFeatures, new byte[3]);
        AssertDropped();
    }

    [Fact]
    public void KickWithoutAnFdDropsTheConnection()
    {
        Negotiate();
        _frontEnd.SendU64(VhostUserRequest.SetVringKick, 0); // no fd and no "no fd" flag
        AssertDropped();
    }

    [Fact]
    public void MemTableWithTooFewFdsDropsTheConnection()
    {
        Negotiate();
        var p = new byte[8 + 64];
        BinaryPrimitives.WriteUInt32LittleEndian(p, 2);
        for (int i = 0; i < 2; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(8 + 32 * i), (ulong)i << 20);
            BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(16 + 32 * i), 4096);
            BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(24 + 32 * i), FrontEnd(0));
        }
        _frontEnd.Send(VhostUserRequest.SetMemTable, p, [_ram.Fd]);
        AssertDropped();
    }

    [Fact]
    public void OutOfRangeQueueIndexDropsTheConnection()
    {
        Negotiate();
        _frontEnd.SendState(VhostUserRequest.SetVringNum, 5, 16);
        AssertDropped();
    }

    [Fact]
    public void BadQueueSizeDropsTheConnection()
    {
        Negotiate();
        _frontEnd.SendState(VhostUserRequest.SetVringNum, 0, 24);
        AssertDropped();
    }

    [Fact]
    public void UnofferedFeatureDropsTheConnection()
    {
        _frontEnd.SendU64(VhostUserRequest.SetFeatures, 1UL << 34); // packed rings: never offered
        AssertDropped();
    }

    [Fact]
    public void RingAddressOutsideTheMemoryTableDropsTheConnection()
    {
        Negotiate();
        SendMemTable();
        _frontEnd.SendState(VhostUserRequest.SetVringNum, 0, QueueSize);
        SendVringAddr(0, 0xdead_0000, FrontEnd(_driver.UsedRing), FrontEnd(_driver.AvailableRing));
        _frontEnd.SendU64(VhostUserRequest.SetVringKick, 0, [_kick.Fd]);
        _frontEnd.SendState(VhostUserRequest.SetVringEnable, 0, 1);
        AssertDropped();
    }

    [Fact]
    public void DisconnectResetsTheDeviceAndEndsRunAsync()
    {
        StartRing();
        _frontEnd.Dispose();
        Assert.True(_run.Wait(5000));
        Assert.False(_backend.IsDeviceActive);
    }

    [Fact]
    public void DisposeWithoutAFrontEndRemovesTheSocket()
    {
        using var device = new VirtioBlkDevice(_image, readOnly: true, serial: "idle");
        string path = Path.Combine(_dir, "idle.sock");
        var backend = new VhostUserBackend(device, path);
        Assert.True(File.Exists(path));
        var run = backend.RunAsync();
        backend.Dispose();
        Assert.True(run.Wait(5000));
        Assert.False(File.Exists(path));
    }
}
