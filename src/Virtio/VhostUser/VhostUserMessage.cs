using System.Buffers.Binary;

namespace Spinbox.Virtio.VhostUser;

/// <summary>The front end broke the protocol; the connection is dropped with this reason.</summary>
public sealed class VhostUserProtocolException(string message) : Exception(message);

/// <summary>One received front-end message: header, payload, and the fds that came with it (owned here).</summary>
public sealed class VhostUserMessage(VhostUserRequest request, uint flags, byte[] payload, List<OwnedFd> fds) : IDisposable
{
    public VhostUserRequest Request { get; } = request;
    public uint Flags { get; } = flags;
    public byte[] Payload { get; } = payload;
    public List<OwnedFd> Fds { get; } = fds;

    public bool NeedReply => (Flags & VhostUserProtocol.NeedReplyFlag) != 0;

    public void RequireSize(int size)
    {
        if (Payload.Length != size)
            throw new VhostUserProtocolException($"{Request}: payload is {Payload.Length} bytes, expected {size}");
    }

    public void RequireFds(int count)
    {
        if (Fds.Count != count)
            throw new VhostUserProtocolException($"{Request}: {Fds.Count} fds attached, expected {count}");
    }

    public ulong ReadU64()
    {
        RequireSize(8);
        return BinaryPrimitives.ReadUInt64LittleEndian(Payload);
    }

    /// <summary>Reads a vring state {u32 index, u32 num}.</summary>
    public (uint Index, uint Num) ReadVringState()
    {
        RequireSize(8);
        return (BinaryPrimitives.ReadUInt32LittleEndian(Payload), BinaryPrimitives.ReadUInt32LittleEndian(Payload.AsSpan(4)));
    }

    /// <summary>Takes ownership of the single attached fd (the caller disposes it).</summary>
    public OwnedFd TakeFd()
    {
        RequireFds(1);
        var fd = Fds[0];
        Fds.Clear();
        return fd;
    }

    public void Dispose()
    {
        foreach (var fd in Fds) fd.Dispose();
        Fds.Clear();
    }
}

/// <summary>A vring address description: {u32 index, u32 flags, u64 desc, u64 used, u64 avail, u64 log}.</summary>
public readonly record struct VringAddress(uint Index, uint Flags, ulong Descriptor, ulong Used, ulong Available, ulong Log)
{
    public const int Size = 40;

    public static VringAddress Parse(VhostUserMessage message)
    {
        message.RequireSize(Size);
        var p = message.Payload.AsSpan();
        return new VringAddress(
            BinaryPrimitives.ReadUInt32LittleEndian(p),
            BinaryPrimitives.ReadUInt32LittleEndian(p[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(p[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(p[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(p[24..]),
            BinaryPrimitives.ReadUInt64LittleEndian(p[32..]));
    }
}

/// <summary>One SET_MEM_TABLE region: {u64 guest address, u64 size, u64 user address, u64 mmap offset}.</summary>
public readonly record struct MemoryRegionDescription(ulong GuestAddress, ulong Size, ulong UserAddress, ulong MmapOffset)
{
    public const int WireSize = 32;

    /// <summary>Parses {u32 count, u32 padding, regions[count]}; the fd count must match the region count.</summary>
    public static MemoryRegionDescription[] ParseTable(VhostUserMessage message)
    {
        var p = message.Payload.AsSpan();
        if (p.Length < 8) throw new VhostUserProtocolException($"SetMemTable: payload is {p.Length} bytes, shorter than its 8-byte header");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(p);
        if (count == 0 || count > VhostUserProtocol.MaxMemoryRegions)
            throw new VhostUserProtocolException($"SetMemTable: region count {count} is not in 1..{VhostUserProtocol.MaxMemoryRegions}");
        message.RequireSize(8 + (int)count * WireSize);
        message.RequireFds((int)count);
        var regions = new MemoryRegionDescription[count];
        for (int i = 0; i < count; i++)
        {
            var r = p.Slice(8 + i * WireSize, WireSize);
            regions[i] = new MemoryRegionDescription(
                BinaryPrimitives.ReadUInt64LittleEndian(r),
                BinaryPrimitives.ReadUInt64LittleEndian(r[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(r[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(r[24..]));
            if (regions[i].Size == 0 || regions[i].GuestAddress + regions[i].Size < regions[i].GuestAddress
                || regions[i].UserAddress + regions[i].Size < regions[i].UserAddress
                || regions[i].MmapOffset + regions[i].Size < regions[i].MmapOffset)
                throw new VhostUserProtocolException($"SetMemTable: region {i} (gpa 0x{regions[i].GuestAddress:x}, size 0x{regions[i].Size:x}) is empty or wraps around");
        }
        return regions;
    }
}

/// <summary>A config space access: {u32 offset, u32 size, u32 flags, payload[size]}.</summary>
public readonly record struct ConfigAccess(uint Offset, uint Size, uint Flags)
{
    public const int HeaderSize = 12;

    public static ConfigAccess Parse(VhostUserMessage message)
    {
        var p = message.Payload.AsSpan();
        if (p.Length < HeaderSize) throw new VhostUserProtocolException($"{message.Request}: payload is {p.Length} bytes, shorter than the 12-byte config header");
        var access = new ConfigAccess(
            BinaryPrimitives.ReadUInt32LittleEndian(p),
            BinaryPrimitives.ReadUInt32LittleEndian(p[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(p[8..]));
        if (access.Size > VhostUserProtocol.MaxConfigSize || access.Offset > VhostUserProtocol.MaxConfigSize)
            throw new VhostUserProtocolException($"{message.Request}: config access offset {access.Offset} size {access.Size} exceeds {VhostUserProtocol.MaxConfigSize} bytes");
        message.RequireSize(HeaderSize + (int)access.Size);
        return access;
    }
}
