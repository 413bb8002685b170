using System.Buffers.Binary;

namespace Spinbox.Virtio.Tests.Vsock;

/// <summary>A vsock packet as the test guest sends or receives it (struct virtio_vsock_hdr + payload).</summary>
internal sealed record GuestPacket(
    ulong SrcCid, ulong DstCid, uint SrcPort, uint DstPort, ushort Type, ushort Op,
    uint Flags, uint BufAlloc, uint FwdCnt, byte[] Payload)
{
    /// <summary>The header's len field; defaults to the payload length (tests override it for garbage).</summary>
    public uint? LenOverride { get; init; }
    public uint Len => LenOverride ?? (uint)Payload.Length;

    public override string ToString() =>
        $"{VsockWire.OpName(Op)} {SrcCid}:{SrcPort}->{DstCid}:{DstPort} len={Len} flags={Flags} buf_alloc={BufAlloc} fwd_cnt={FwdCnt}";
}

/// <summary>Encoding written from the spec's header layout, independent of the device's own code.</summary>
internal static class VsockWire
{
    public const int HeaderSize = 44;
    public const ushort TypeStream = 1;
    public const ushort OpRequest = 1, OpResponse = 2, OpRst = 3, OpShutdown = 4, OpRw = 5, OpCreditUpdate = 6, OpCreditRequest = 7;
    public const uint ShutdownRcv = 1, ShutdownSend = 2;

    public static string OpName(ushort op) => op switch
    {
        OpRequest => "REQUEST", OpResponse => "RESPONSE", OpRst => "RST", OpShutdown => "SHUTDOWN",
        OpRw => "RW", OpCreditUpdate => "CREDIT_UPDATE", OpCreditRequest => "CREDIT_REQUEST", _ => $"op{op}",
    };

    public static byte[] EncodeHeader(GuestPacket p)
    {
        var b = new byte[HeaderSize];
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(0), p.SrcCid);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), p.DstCid);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), p.SrcPort);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), p.DstPort);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(24), p.Len);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(28), p.Type);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(30), p.Op);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(32), p.Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(36), p.BufAlloc);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(40), p.FwdCnt);
        return b;
    }

    /// <summary>Parses what the device wrote into an rx buffer; the len field must match the bytes used.</summary>
    public static GuestPacket Decode(byte[] bytes)
    {
        if (bytes.Length < HeaderSize) throw new InvalidDataException($"rx packet of {bytes.Length} bytes is shorter than a header");
        var b = bytes.AsSpan();
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]);
        if (len != bytes.Length - HeaderSize)
            throw new InvalidDataException($"rx packet len field {len} but the device used {bytes.Length - HeaderSize} payload bytes");
        return new GuestPacket(
            BinaryPrimitives.ReadUInt64LittleEndian(b),
            BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[28..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[30..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[36..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[40..]),
            bytes[HeaderSize..]);
    }
}
