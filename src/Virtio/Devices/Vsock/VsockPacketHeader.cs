using System.Buffers.Binary;

namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>Operation codes of virtio-vsock packets (virtio 1.2, 5.10.6).</summary>
internal enum VsockOp : ushort
{
    Invalid = 0,
    Request = 1,
    Response = 2,
    Rst = 3,
    Shutdown = 4,
    Rw = 5,
    CreditUpdate = 6,
    CreditRequest = 7,
}

/// <summary>Wire constants of the socket device.</summary>
internal static class VsockProtocol
{
    public const uint DeviceId = 19;
    public const ulong HostCid = 2;
    public const ushort TypeStream = 1;
    public const uint ShutdownReceive = 1;
    public const uint ShutdownSend = 2;
    public const uint ShutdownBoth = ShutdownReceive | ShutdownSend;
    public const int HeaderSize = 44;

    /// <summary>Largest payload per packet, as Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE; bigger ones are malformed.</summary>
    public const int MaxPayload = 64 * 1024;
}

/// <summary>The 44-byte little-endian packet header (struct virtio_vsock_hdr).</summary>
internal readonly record struct VsockPacketHeader(
    ulong SrcCid, ulong DstCid, uint SrcPort, uint DstPort, uint Length,
    ushort Type, VsockOp Op, uint Flags, uint BufAlloc, uint FwdCnt)
{
    public static VsockPacketHeader Parse(ReadOnlySpan<byte> b) => new(
        SrcCid: BinaryPrimitives.ReadUInt64LittleEndian(b),
        DstCid: BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
        SrcPort: BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
        DstPort: BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
        Length: BinaryPrimitives.ReadUInt32LittleEndian(b[24..]),
        Type: BinaryPrimitives.ReadUInt16LittleEndian(b[28..]),
        Op: (VsockOp)BinaryPrimitives.ReadUInt16LittleEndian(b[30..]),
        Flags: BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
        BufAlloc: BinaryPrimitives.ReadUInt32LittleEndian(b[36..]),
        FwdCnt: BinaryPrimitives.ReadUInt32LittleEndian(b[40..]));

    public void WriteTo(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, SrcCid);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], DstCid);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], SrcPort);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], DstPort);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], Length);
        BinaryPrimitives.WriteUInt16LittleEndian(b[28..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(b[30..], (ushort)Op);
        BinaryPrimitives.WriteUInt32LittleEndian(b[32..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[36..], BufAlloc);
        BinaryPrimitives.WriteUInt32LittleEndian(b[40..], FwdCnt);
    }
}
