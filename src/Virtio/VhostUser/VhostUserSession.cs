using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.VhostUser;

/// <summary>
/// One front-end connection: applies each request to the ring and memory state, and activates the device
/// once every ring the front end drives has memory, addresses, a kick fd, and is enabled.
/// Device calls (Activate, Reset, ProcessQueue, config access) are serialized by one lock.
/// </summary>
internal sealed class VhostUserSession : IDisposable
{
    private readonly IVirtioDevice _device;
    private readonly VhostUserChannel _channel;
    private readonly ILogger _logger;
    private readonly VringState[] _rings;
    private readonly int _activeRingCount;
    private readonly CallEventInterrupt _interrupt;
    private readonly KickPoller _poller;
    private readonly object _lock = new();
    private VhostUserMemoryTable? _memory;
    private ulong _ackedFeatures;
    private ulong _protocolFeatures;
    private bool _active;

    public VhostUserSession(IVirtioDevice device, VhostUserChannel channel, int activeRingCount, ILogger logger)
    {
        _device = device;
        _channel = channel;
        _logger = logger;
        _activeRingCount = activeRingCount;
        _rings = Enumerable.Range(0, device.QueueCount).Select(i => new VringState(i)).ToArray();
        _interrupt = new CallEventInterrupt(_rings);
        _poller = new KickPoller(SnapshotKicks, OnKick, logger, $"vhost-user-kick-{device.DeviceType}");
    }

    /// <summary>Whether the device currently has its queues (for tests and diagnostics).</summary>
    public bool IsActive { get { lock (_lock) return _active; } }

    /// <summary>Ring features the transport cannot provide are never offered: packed rings, IOMMU, dirty logging.</summary>
    public ulong OfferedFeatures =>
        (_device.DeviceFeatures & ~((1UL << VhostUserProtocol.RingPackedBit) | (1UL << VhostUserProtocol.AccessPlatformBit) | (1UL << VhostUserProtocol.LogAllBit)))
        | (1UL << VhostUserProtocol.ProtocolFeaturesBit);

    private bool ProtocolFeaturesAcked => (_ackedFeatures & (1UL << VhostUserProtocol.ProtocolFeaturesBit)) != 0;

    /// <summary>Handles one request, replying as the protocol requires. Throws VhostUserProtocolException to drop the connection.</summary>
    public void Handle(VhostUserMessage m)
    {
        bool ok = true;
        bool explicitReply = false;
        lock (_lock)
        {
            switch (m.Request)
            {
                case VhostUserRequest.GetFeatures:
                    NoPayload(m);
                    _channel.ReplyU64(m.Request, OfferedFeatures);
                    explicitReply = true;
                    break;
                case VhostUserRequest.SetFeatures:
                    m.RequireFds(0);
                    SetFeatures(m.ReadU64());
                    break;
                case VhostUserRequest.GetProtocolFeatures:
                    NoPayload(m);
                    _channel.ReplyU64(m.Request, VhostUserProtocol.SupportedProtocolFeatures);
                    explicitReply = true;
                    break;
                case VhostUserRequest.SetProtocolFeatures:
                    m.RequireFds(0);
                    SetProtocolFeatures(m.ReadU64());
                    break;
                case VhostUserRequest.SetOwner:
                    NoPayload(m);
                    break;
                case VhostUserRequest.ResetOwner:
                case VhostUserRequest.ResetDevice:
                    NoPayload(m);
                    ResetAll();
                    break;
                case VhostUserRequest.SetMemTable:
                    SetMemTable(m);
                    break;
                case VhostUserRequest.GetQueueNum:
                    NoPayload(m);
                    _channel.ReplyU64(m.Request, (ulong)_device.QueueCount);
                    explicitReply = true;
                    break;
                case VhostUserRequest.SetVringNum:
                    SetVringNum(m);
                    break;
                case VhostUserRequest.SetVringAddr:
                    m.RequireFds(0);
                    var address = VringAddress.Parse(m);
                    Ring(address.Index, m.Request).Address = address;
                    TryActivate();
                    break;
                case VhostUserRequest.SetVringBase:
                    SetVringBase(m);
                    break;
                case VhostUserRequest.GetVringBase:
                    GetVringBase(m);
                    explicitReply = true;
                    break;
                case VhostUserRequest.SetVringKick:
                case VhostUserRequest.SetVringCall:
                case VhostUserRequest.SetVringErr:
                    SetVringFd(m);
                    break;
                case VhostUserRequest.SetVringEnable:
                    SetVringEnable(m);
                    break;
                case VhostUserRequest.GetConfig:
                    GetConfig(m);
                    explicitReply = true;
                    break;
                case VhostUserRequest.SetConfig:
                    m.RequireFds(0);
                    var access = ConfigAccess.Parse(m);
                    _device.WriteConfig(access.Offset, m.Payload.AsSpan(ConfigAccess.HeaderSize));
                    break;
                default:
                    _logger.LogWarning("vhost-user: unsupported request {Request} ({Size} payload bytes, {Fds} fds); answering failure",
                        (uint)m.Request, m.Payload.Length, m.Fds.Count);
                    ok = false;
                    break;
            }
        }
        // REPLY_ACK: a request that has no reply of its own answers 0 (done) or 1 (failed) when asked to.
        bool replyAck = (_protocolFeatures & (1UL << VhostUserProtocol.ProtocolReplyAck)) != 0;
        if (m.NeedReply && replyAck && !explicitReply) _channel.ReplyU64(m.Request, ok ? 0UL : 1UL);
    }

    private static void NoPayload(VhostUserMessage m)
    {
        m.RequireFds(0);
        // QEMU sends some payload-less requests with an 8-byte zero payload; accept either.
        if (m.Payload.Length is not (0 or 8))
            throw new VhostUserProtocolException($"{m.Request}: unexpected {m.Payload.Length}-byte payload");
    }

    private VringState Ring(uint index, VhostUserRequest request)
    {
        if (index >= (uint)_rings.Length)
            throw new VhostUserProtocolException($"{request}: ring index {index} is out of range (the device has {_rings.Length} queues)");
        return _rings[index];
    }

    private void SetFeatures(ulong features)
    {
        ulong unknown = features & ~OfferedFeatures;
        if (unknown != 0)
            throw new VhostUserProtocolException($"SetFeatures: features 0x{unknown:x} were never offered");
        if (_active && features != _ackedFeatures)
            _logger.LogWarning("vhost-user: features changed from 0x{Old:x} to 0x{New:x} while the device is active", _ackedFeatures, features);
        _ackedFeatures = features;
        TryActivate();
    }

    private void SetProtocolFeatures(ulong features)
    {
        ulong unknown = features & ~VhostUserProtocol.SupportedProtocolFeatures;
        if (unknown != 0) _logger.LogWarning("vhost-user: front end set unoffered protocol features 0x{Unknown:x}; ignoring them", unknown);
        _protocolFeatures = features & VhostUserProtocol.SupportedProtocolFeatures;
    }

    private void SetMemTable(VhostUserMessage m)
    {
        var regions = MemoryRegionDescription.ParseTable(m);
        var table = VhostUserMemoryTable.Map(regions, m.Fds);
        // Queues hold guest addresses into the old mapping: stop the device before unmapping it.
        Deactivate();
        _memory?.Dispose();
        _memory = table;
        _logger.LogDebug("vhost-user: memory table with {Count} regions", regions.Length);
        TryActivate();
    }

    private void SetVringNum(VhostUserMessage m)
    {
        m.RequireFds(0);
        var (index, num) = m.ReadVringState();
        var ring = Ring(index, m.Request);
        if (num == 0 || num > _device.MaxQueueSize || (num & (num - 1)) != 0)
            throw new VhostUserProtocolException($"SetVringNum: ring {index} size {num} is not a power of two in 1..{_device.MaxQueueSize}");
        ring.Size = (ushort)num;
    }

    private void SetVringBase(VhostUserMessage m)
    {
        m.RequireFds(0);
        var (index, num) = m.ReadVringState();
        var ring = Ring(index, m.Request);
        if (num > ushort.MaxValue) throw new VhostUserProtocolException($"SetVringBase: ring {index} base {num} exceeds 65535");
        ring.Base = (ushort)num;
    }

    private void GetVringBase(VhostUserMessage m)
    {
        m.RequireFds(0);
        var (index, _) = m.ReadVringState();
        var ring = Ring(index, m.Request);
        // GET_VRING_BASE stops the ring: the device gives up all its queues, the ring forgets its kick.
        Deactivate();
        ring.ReplaceKick(null);
        _poller.Refresh();
        Span<byte> reply = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(reply, index);
        BinaryPrimitives.WriteUInt32LittleEndian(reply[4..], ring.Base);
        _channel.Reply(m.Request, reply);
    }

    private void SetVringFd(VhostUserMessage m)
    {
        ulong value = m.ReadU64();
        var ring = Ring((uint)(value & VhostUserProtocol.VringIndexMask), m.Request);
        if ((value & ~(VhostUserProtocol.VringIndexMask | VhostUserProtocol.VringNoFdFlag)) != 0)
            throw new VhostUserProtocolException($"{m.Request}: payload 0x{value:x} has unknown bits");
        OwnedFd? fd = null;
        if ((value & VhostUserProtocol.VringNoFdFlag) != 0)
        {
            m.RequireFds(0);
            if (m.Request == VhostUserRequest.SetVringKick)
                _logger.LogWarning("vhost-user: ring {Ring} asks for polling instead of a kick fd; unsupported, the ring stays stopped", ring.Index);
        }
        else fd = m.TakeFd();
        switch (m.Request)
        {
            case VhostUserRequest.SetVringKick:
                ring.ReplaceKick(fd);
                ring.Failed = false;
                _poller.Refresh();
                TryActivate();
                break;
            case VhostUserRequest.SetVringCall: ring.ReplaceCall(fd); break;
            default: ring.ReplaceErr(fd); break;
        }
    }

    private void SetVringEnable(VhostUserMessage m)
    {
        m.RequireFds(0);
        var (index, num) = m.ReadVringState();
        var ring = Ring(index, m.Request);
        if (num > 1) throw new VhostUserProtocolException($"SetVringEnable: ring {index} value {num} is not 0 or 1");
        bool wasEnabled = IsEnabled(ring);
        ring.EnabledFlag = num == 1;
        TryActivate();
        // Kicks that came while the ring was disabled were ignored: look at it once now.
        if (_active && !wasEnabled && IsEnabled(ring)) Dispatch((int)index);
    }

    private void GetConfig(VhostUserMessage m)
    {
        m.RequireFds(0);
        var access = ConfigAccess.Parse(m);
        var reply = new byte[ConfigAccess.HeaderSize + access.Size];
        m.Payload.AsSpan(0, ConfigAccess.HeaderSize).CopyTo(reply);
        _device.ReadConfig(access.Offset, reply.AsSpan(ConfigAccess.HeaderSize));
        _channel.Reply(m.Request, reply);
    }

    /// <summary>Without F_PROTOCOL_FEATURES a ring starts enabled; with it, only SET_VRING_ENABLE(1) enables it.</summary>
    private bool IsEnabled(VringState ring) => ring.EnabledFlag || !ProtocolFeaturesAcked;

    private void TryActivate()
    {
        if (_active || _memory == null) return;
        for (int i = 0; i < _activeRingCount; i++)
        {
            var r = _rings[i];
            if (r.Size == 0 || r.Address == null || r.Kick == null || !IsEnabled(r)) return;
        }
        var memory = _memory.Memory;
        bool eventIndex = (_ackedFeatures & (1UL << VhostUserProtocol.RingEventIdxBit)) != 0;
        var queues = new List<Virtqueue>();
        for (int i = 0; i < _activeRingCount; i++)
        {
            var r = _rings[i];
            var a = r.Address!.Value;
            ulong desc = Translate(a.Descriptor, i, "descriptor table");
            ulong avail = Translate(a.Available, i, "available ring");
            ulong used = Translate(a.Used, i, "used ring");
            Virtqueue q;
            try { q = new Virtqueue(memory, r.Size, desc, avail, used, eventIndex); }
            catch (VirtqueueException e) { throw new VhostUserProtocolException($"ring {i}: {e.Message}"); }
            q.NextAvailable = r.Base;
            // After a restart the used ring already holds entries: continue from its index.
            q.NextUsed = memory.Read<ushort>(used + 2);
            queues.Add(q);
        }
        for (int i = 0; i < queues.Count; i++) { _rings[i].Queue = queues[i]; _rings[i].Failed = false; }
        ulong deviceFeatures = _ackedFeatures & ~(1UL << VhostUserProtocol.ProtocolFeaturesBit);
        _device.Activate(memory, deviceFeatures, queues, _interrupt);
        _active = true;
        _logger.LogDebug("vhost-user: device type {Type} active with {Count} queues, features 0x{Features:x}", _device.DeviceType, queues.Count, deviceFeatures);
        // Kicks that arrived before activation were dropped; look at every queue once.
        for (int i = 0; i < queues.Count; i++) Dispatch(i);
    }

    private ulong Translate(ulong frontEndAddress, int ring, string what)
    {
        if (!_memory!.Memory.TryTranslateFrontEndAddress(frontEndAddress, out ulong gpa))
            throw new VhostUserProtocolException($"ring {ring}: {what} address 0x{frontEndAddress:x} is in no memory region");
        return gpa;
    }

    private void Deactivate()
    {
        if (!_active) return;
        _active = false;
        try { _device.Reset(); }
        catch (Exception e) { _logger.LogError(e, "vhost-user: device reset failed"); }
        foreach (var r in _rings)
        {
            if (r.Queue is { } q) r.Base = q.NextAvailable;
            r.Queue = null;
        }
    }

    private void ResetAll()
    {
        Deactivate();
        foreach (var r in _rings) r.Clear();
        _ackedFeatures = 0;
        _poller.Refresh();
    }

    private IReadOnlyList<(int, OwnedFd)> SnapshotKicks()
    {
        lock (_lock)
            return _rings.Where(r => r.Kick != null).Select(r => (r.Index, r.Kick!)).ToList();
    }

    private void OnKick(int ring)
    {
        lock (_lock) Dispatch(ring);
    }

    private void Dispatch(int index)
    {
        var ring = _rings[index];
        if (!_active || ring.Queue == null || ring.Failed || !IsEnabled(ring)) return;
        try
        {
            _device.ProcessQueue(index);
        }
        catch (Exception e)
        {
            // A device bug or a hostile guest: stop serving this ring rather than the whole process.
            ring.Failed = true;
            _logger.LogError(e, "vhost-user: device type {Type} failed processing queue {Ring}; the ring is stopped", _device.DeviceType, index);
            if (ring.Err is { } err) UnixInterop.SignalEventFd(err);
        }
    }

    public void Dispose()
    {
        _poller.Dispose();
        lock (_lock)
        {
            Deactivate();
            foreach (var r in _rings) r.Clear();
            _memory?.Dispose();
            _memory = null;
        }
    }
}
