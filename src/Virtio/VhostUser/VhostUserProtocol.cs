namespace Spinbox.Virtio.VhostUser;

/// <summary>Front-end request codes (QEMU docs/interop/vhost-user.rst, "Front-end message types").</summary>
public enum VhostUserRequest : uint
{
    GetFeatures = 1,
    SetFeatures = 2,
    SetOwner = 3,
    ResetOwner = 4,
    SetMemTable = 5,
    SetLogBase = 6,
    SetLogFd = 7,
    SetVringNum = 8,
    SetVringAddr = 9,
    SetVringBase = 10,
    GetVringBase = 11,
    SetVringKick = 12,
    SetVringCall = 13,
    SetVringErr = 14,
    GetProtocolFeatures = 15,
    SetProtocolFeatures = 16,
    GetQueueNum = 17,
    SetVringEnable = 18,
    SetBackendReqFd = 21,
    GetConfig = 24,
    SetConfig = 25,
    ResetDevice = 34,
    GetMaxMemSlots = 36,
    AddMemReg = 37,
    RemMemReg = 38,
    SetStatus = 39,
    GetStatus = 40,
}

/// <summary>Bit numbers and sizes fixed by the vhost-user protocol.</summary>
public static class VhostUserProtocol
{
    public const int HeaderSize = 12;
    public const uint Version = 0x1, VersionMask = 0x3, ReplyFlag = 0x4, NeedReplyFlag = 0x8;

    /// <summary>Feature bit 30: the back end speaks GET/SET_PROTOCOL_FEATURES.</summary>
    public const int ProtocolFeaturesBit = 30;

    public const int ProtocolMq = 0, ProtocolReplyAck = 3, ProtocolConfig = 9, ProtocolResetDevice = 13;

    /// <summary>The protocol features this back end implements.</summary>
    public const ulong SupportedProtocolFeatures =
        (1UL << ProtocolMq) | (1UL << ProtocolReplyAck) | (1UL << ProtocolConfig) | (1UL << ProtocolResetDevice);

    /// <summary>Bits 0-7 of a KICK/CALL/ERR payload are the ring index; bit 8 says "no fd attached".</summary>
    public const ulong VringIndexMask = 0xff, VringNoFdFlag = 0x100;

    /// <summary>The most memory regions SET_MEM_TABLE may carry (VHOST_MEMORY_BASELINE_NREGIONS).</summary>
    public const int MaxMemoryRegions = 8;

    /// <summary>Largest payload any supported message has (config: 12-byte header + 256 bytes).</summary>
    public const int MaxPayloadSize = 4096;

    public const int MaxConfigSize = 256;

    // Virtio feature bits the transport itself cares about.
    public const int RingEventIdxBit = 29, RingPackedBit = 34, AccessPlatformBit = 33, LogAllBit = 26;
}
