using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>
/// virtio-vsock (device id 19) whose host end lives in this process: guest connections to CID 2 become
/// <see cref="VsockStream"/>s, never host AF_VSOCK sockets (Firecracker-style). Queues: rx (0), tx (1),
/// event (2). One lock guards all state; guest kicks arrive on the transport's thread and never wait for
/// host consumers, whose data is buffered per connection up to <see cref="BufferSize"/> each way. Packets
/// for the guest are pushed from whichever thread produced the work (a kick, a host write or read).
/// </summary>
public sealed partial class VirtioVsockDevice : IVirtioDevice
{
    private const int RxQueue = 0, TxQueue = 1, EventQueue = 2;
    private const ulong FeatureVersion1 = 1UL << 32;
    private const int MaxPendingResets = 1024;
    private const uint FirstEphemeralPort = 49152;

    private readonly object _gate = new();
    private readonly ulong _guestCid;
    private readonly ILogger _logger;
    private readonly Dictionary<(uint Local, uint Peer), VsockConnection> _connections = new();
    private readonly Dictionary<uint, Listener> _listeners = new();
    private readonly Queue<VsockConnection> _rxReady = new();
    private readonly Queue<VsockPacketHeader> _pendingResets = new();

    private IGuestMemory? _memory;
    private Virtqueue? _rxQueue, _txQueue;
    private IInterruptSignal? _interrupt;
    private bool _rxPushed, _txPushed;
    private uint _nextEphemeralPort = FirstEphemeralPort;
    private bool _disposed;

    public VirtioVsockDevice(ulong guestCid, ILogger? logger = null)
    {
        // CIDs 0-2 are reserved (hypervisor, local, host) and U32_MAX means "any".
        if (guestCid <= VsockProtocol.HostCid || guestCid >= uint.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(guestCid), guestCid, "guest CID must be in 3..4294967294");
        _guestCid = guestCid;
        _logger = logger ?? NullLogger.Instance;
    }

    public ulong GuestCid => _guestCid;

    /// <summary>Bytes buffered per connection and direction; advertised to the guest as buf_alloc.</summary>
    public int BufferSize { get; init; } = 256 * 1024;

    /// <summary>How long <see cref="ConnectAsync"/> waits for the guest's RESPONSE.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a disposed stream waits for the guest to acknowledge SHUTDOWN before we send RST.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(8);

    public uint DeviceType => VsockProtocol.DeviceId;
    public ulong DeviceFeatures => FeatureVersion1;
    public int QueueCount => 3;
    public ushort MaxQueueSize => 256;

    /// <summary>Number of live connections (diagnostics and tests).</summary>
    public int ConnectionCount { get { lock (_gate) return _connections.Count; } }

    public void ReadConfig(uint offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(config, _guestCid);
        data.Clear();
        if (offset < config.Length)
        {
            var part = config[(int)offset..];
            part[..Math.Min(part.Length, data.Length)].CopyTo(data);
        }
    }

    public void WriteConfig(uint offset, ReadOnlySpan<byte> data)
    {
        // guest_cid is read-only for the driver.
    }

    public void Activate(IGuestMemory memory, ulong ackedFeatures, IReadOnlyList<Virtqueue> queues, IInterruptSignal interrupt)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentNullException.ThrowIfNull(interrupt);
        if (queues.Count < 2) throw new ArgumentException($"vsock needs its rx and tx queues, got {queues.Count}", nameof(queues));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _memory = memory;
            _rxQueue = queues[RxQueue];
            _txQueue = queues[TxQueue];
            _interrupt = interrupt;
            // Work queued while no driver was attached (a host ConnectAsync, say) can go out now.
            PumpRxLocked();
            SignalUsedLocked();
        }
    }

    public void ProcessQueue(int queueIndex)
    {
        lock (_gate)
        {
            if (_memory is null) return;
            switch (queueIndex)
            {
                case RxQueue: break; // new rx buffers: the pump below fills them
                case TxQueue: DrainTxLocked(); break;
                case EventQueue: return; // buffers stay posted for a future transport-reset event
                default:
                    _logger.LogDebug("vsock: kick for unknown queue {Queue} ignored", queueIndex);
                    return;
            }
            PumpRxLocked();
            SignalUsedLocked();
        }
    }

    public void Reset()
    {
        lock (_gate)
        {
            AbortAllLocked("device reset");
            DetachQueuesLocked();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            AbortAllLocked("device disposed");
            DetachQueuesLocked();
            _listeners.Clear();
        }
    }

    /// <summary>Accepts guest connections to host port <paramref name="port"/>; dispose the result to stop listening.</summary>
    public IDisposable Listen(uint port, Action<VsockStream> onConnection)
    {
        ArgumentNullException.ThrowIfNull(onConnection);
        var listener = new Listener(this, port, onConnection);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_listeners.TryAdd(port, listener))
                throw new InvalidOperationException($"vsock port {port} already has a listener");
        }
        return listener;
    }

    /// <summary>Opens a connection from the host to guest port <paramref name="guestPort"/>.</summary>
    public async Task<VsockStream> ConnectAsync(uint guestPort, CancellationToken ct)
    {
        var completion = new TaskCompletionSource<VsockStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        VsockConnection connection;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            uint localPort = AllocateEphemeralPortLocked(guestPort);
            connection = new VsockConnection(localPort, guestPort, BufferSize)
            {
                State = VsockConnectionState.Connecting,
                NeedRequest = true,
                PendingConnect = completion,
            };
            _connections.Add((localPort, guestPort), connection);
            ScheduleLocked(connection);
            PumpRxLocked();
            SignalUsedLocked();
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        using (timeout.Token.Register(() => AbandonConnect(connection, ct.IsCancellationRequested)))
            return await completion.Task.ConfigureAwait(false);
    }

    private void AbandonConnect(VsockConnection connection, bool cancelled) => UpdateAndPump(() =>
    {
        if (connection.State != VsockConnectionState.Connecting) return;
        // A REQUEST already on the wire needs an RST so the guest forgets the half-open socket.
        RemoveConnectionLocked(connection, sendReset: !connection.NeedRequest);
        Exception error = cancelled
            ? new OperationCanceledException($"connect to guest vsock port {connection.PeerPort} was cancelled")
            : new TimeoutException($"guest did not answer a connect to vsock port {connection.PeerPort} within {ConnectTimeout.TotalSeconds:0.###} s");
        connection.PendingConnect?.TrySetException(error);
    });

    private uint AllocateEphemeralPortLocked(uint guestPort)
    {
        for (uint tries = 0; tries < uint.MaxValue - FirstEphemeralPort; tries++)
        {
            uint port = _nextEphemeralPort;
            _nextEphemeralPort = port == uint.MaxValue - 1 ? FirstEphemeralPort : port + 1;
            if (!_listeners.ContainsKey(port) && !_connections.ContainsKey((port, guestPort))) return port;
        }
        throw new IOException("no free host vsock port");
    }

    private void DetachQueuesLocked()
    {
        _memory = null;
        _rxQueue = _txQueue = null;
        _interrupt = null;
        _rxPushed = _txPushed = false;
        _pendingResets.Clear();
        _rxReady.Clear();
    }

    private void AbortAllLocked(string reason)
    {
        foreach (var connection in _connections.Values.ToArray())
        {
            RemoveConnectionLocked(connection, sendReset: false);
            connection.PendingConnect?.TrySetException(new IOException($"vsock connection to guest port {connection.PeerPort} ended: {reason}"));
        }
    }

    private sealed class Listener(VirtioVsockDevice device, uint port, Action<VsockStream> callback) : IDisposable
    {
        public Action<VsockStream> Callback { get; } = callback;

        public void Dispose()
        {
            lock (device._gate)
            {
                // Only remove our own registration, not a newer listener on the same port.
                if (device._listeners.TryGetValue(port, out var current) && current == this) device._listeners.Remove(port);
            }
        }
    }
}
