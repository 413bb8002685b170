using System.Buffers.Binary;

namespace Spinbox.Virtio.Devices.Blk;

/// <summary>Feature bits of a virtio block device (virtio 1.2, 5.2.3) and of the ring.</summary>
public static class VirtioBlkFeatures
{
    public const int SizeMax = 1, SegMax = 2, Geometry = 4, ReadOnly = 5, BlkSize = 6, Flush = 9, Topology = 10, ConfigWce = 11, Mq = 12;
    public const int RingIndirectDesc = 28, RingEventIdx = 29, Version1 = 32;
}

/// <summary>
/// struct virtio_blk_config (virtio 1.2, 5.2.4), little-endian. Only the fields this device fills are
/// written; everything else (geometry, topology, discard, zones) reads as zero.
/// </summary>
public readonly record struct VirtioBlkConfig(ulong CapacitySectors, uint SegMax, uint BlockSize, ushort NumQueues)
{
    /// <summary>Bytes up to and including write_zeroes_may_unmap and its padding; later fields are zero.</summary>
    public const int Size = 60;

    public const int CapacityOffset = 0, SizeMaxOffset = 8, SegMaxOffset = 12, BlkSizeOffset = 20, WritebackOffset = 32, NumQueuesOffset = 34;

    public void Encode(Span<byte> config)
    {
        config[..Size].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(config[CapacityOffset..], CapacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(config[SegMaxOffset..], SegMax);
        BinaryPrimitives.WriteUInt32LittleEndian(config[BlkSizeOffset..], BlockSize);
        BinaryPrimitives.WriteUInt16LittleEndian(config[NumQueuesOffset..], NumQueues);
    }
}
