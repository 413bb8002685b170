namespace Spinbox.Virtio.Devices.Vsock;

internal enum VsockConnectionState
{
    /// <summary>Host-initiated: REQUEST queued or sent, waiting for the guest's RESPONSE.</summary>
    Connecting,
    Established,
    /// <summary>We sent SHUTDOWN with both flags and wait for the guest's RST (or the close timeout).</summary>
    Closing,
    /// <summary>Gone from the connection table; the port is free.</summary>
    Closed,
}

/// <summary>
/// State of one stream connection between a host port and a guest port: the two byte queues and the
/// credit counters of virtio 1.2 section 5.10.6.3. All members are guarded by the device lock.
/// </summary>
internal sealed class VsockConnection(uint localPort, uint peerPort, int bufferSize)
{
    public uint LocalPort { get; } = localPort;
    public uint PeerPort { get; } = peerPort;
    public VsockConnectionState State { get; set; }
    public VsockStream? Stream { get; set; }
    public TaskCompletionSource<VsockStream>? PendingConnect { get; set; }

    // Guest -> host. Our buf_alloc is the inbound capacity; fwd_cnt counts bytes the host has read.
    public ByteRing Inbound { get; } = new(bufferSize);
    public uint BufAlloc => (uint)Inbound.Capacity;
    public uint FwdCnt { get; set; }
    public uint LastAdvertisedFwdCnt { get; set; }
    public bool PeerSendShutdown { get; set; }
    public bool PeerReceiveShutdown { get; set; }

    // Host -> guest. tx_cnt counts bytes sent; the peer's buf_alloc/fwd_cnt come with every guest packet.
    public ByteRing Outbound { get; } = new(bufferSize);
    public uint TxCnt { get; set; }
    public uint PeerBufAlloc { get; set; }
    public uint PeerFwdCnt { get; set; }

    public uint ShutdownWanted { get; set; }
    public uint ShutdownSent { get; set; }
    public bool NeedRequest { get; set; }
    public bool NeedResponse { get; set; }
    public bool NeedCreditUpdate { get; set; }

    /// <summary>The host disposed its stream: inbound data is discarded from now on.</summary>
    public bool LocalClosed { get; set; }

    /// <summary>Ended by RST or device reset: reads see EOF once the buffer is empty, writes fail.</summary>
    public bool Aborted { get; set; }

    public bool InReadyQueue { get; set; }
    public Timer? CloseTimer { get; set; }

    public AsyncSignal Readable { get; } = new();
    public AsyncSignal Writable { get; } = new();

    /// <summary>How many bytes the guest can still take: peer_buf_alloc - (tx_cnt - peer_fwd_cnt), never negative.</summary>
    public uint PeerCredit
    {
        get
        {
            uint inFlight = TxCnt - PeerFwdCnt; // wraps like the spec's u32 counters
            return inFlight >= PeerBufAlloc ? 0 : PeerBufAlloc - inFlight;
        }
    }

    /// <summary>Host reads will never return more data.</summary>
    public bool ReadEnded => Inbound.Count == 0 && (PeerSendShutdown || Aborted || LocalClosed || State == VsockConnectionState.Closed);

    private bool CanSendData => State == VsockConnectionState.Established && Outbound.Count > 0 && PeerCredit > 0 && !PeerReceiveShutdown;

    private bool ShutdownPending =>
        State == VsockConnectionState.Established && (ShutdownWanted & ~ShutdownSent) != 0 && (Outbound.Count == 0 || PeerReceiveShutdown);

    /// <summary>Whether this connection has a packet to put on the rx queue now.</summary>
    public bool HasRxWork =>
        State != VsockConnectionState.Closed && (NeedRequest || NeedResponse || CanSendData || ShutdownPending || NeedCreditUpdate);

    /// <summary>
    /// Chooses the next packet for the guest, in the order the protocol needs (handshake, data, shutdown,
    /// credit), and updates the counters as if it was sent. <paramref name="payloadLength"/> bytes of
    /// <see cref="Outbound"/> must follow the header; the caller consumes them.
    /// </summary>
    public VsockPacketHeader TakeRxPacket(ulong guestCid, int maxPayload, out int payloadLength)
    {
        payloadLength = 0;
        uint flags = 0;
        VsockOp op;
        if (NeedRequest) { op = VsockOp.Request; NeedRequest = false; }
        else if (NeedResponse) { op = VsockOp.Response; NeedResponse = false; }
        else if (CanSendData && maxPayload > 0)
        {
            op = VsockOp.Rw;
            payloadLength = (int)Math.Min(Math.Min((uint)Outbound.Count, PeerCredit), (uint)maxPayload);
            TxCnt += (uint)payloadLength;
        }
        else if (ShutdownPending)
        {
            op = VsockOp.Shutdown;
            flags = ShutdownWanted;
            ShutdownSent = ShutdownWanted;
            if (ShutdownSent == VsockProtocol.ShutdownBoth) State = VsockConnectionState.Closing;
        }
        else op = VsockOp.CreditUpdate;

        // Every header advertises our window, so whatever we send also serves as a credit update.
        NeedCreditUpdate = false;
        LastAdvertisedFwdCnt = FwdCnt;
        return new VsockPacketHeader(VsockProtocol.HostCid, guestCid, LocalPort, PeerPort, (uint)payloadLength,
            VsockProtocol.TypeStream, op, flags, BufAlloc, FwdCnt);
    }
}
