namespace Spinbox.Vmm.VirtioMmio;

/// <summary>virtio-mmio (version 2) register offsets and constants, virtio 1.2 section 4.2.2.</summary>
public static class VirtioMmioRegisters
{
    public const uint MagicValue = 0x000, Version = 0x004, DeviceId = 0x008, VendorId = 0x00c;
    public const uint DeviceFeatures = 0x010, DeviceFeaturesSel = 0x014;
    public const uint DriverFeatures = 0x020, DriverFeaturesSel = 0x024;
    public const uint QueueSel = 0x030, QueueNumMax = 0x034, QueueNum = 0x038, QueueReady = 0x044;
    public const uint QueueNotify = 0x050, InterruptStatus = 0x060, InterruptAck = 0x064, Status = 0x070;
    public const uint QueueDescLow = 0x080, QueueDescHigh = 0x084;
    public const uint QueueDriverLow = 0x090, QueueDriverHigh = 0x094;
    public const uint QueueDeviceLow = 0x0a0, QueueDeviceHigh = 0x0a4;
    public const uint ShmSel = 0x0ac, ShmLenLow = 0x0b0, ShmLenHigh = 0x0b4, ShmBaseLow = 0x0b8, ShmBaseHigh = 0x0bc;
    public const uint ConfigGeneration = 0x0fc, Config = 0x100;

    public const uint Magic = 0x74726976; // "virt"
    public const uint TransportVersion = 2;
    public const uint SpinboxVendorId = 0x58425053; // "SPBX"

    public const uint StatusAcknowledge = 1, StatusDriver = 2, StatusDriverOk = 4, StatusFeaturesOk = 8;
    public const uint StatusDeviceNeedsReset = 0x40, StatusFailed = 0x80;

    public const uint InterruptUsedBuffer = 1, InterruptConfigChange = 2;

    public const ulong FeatureVersion1 = 1UL << 32;
    public const ulong FeatureEventIndex = 1UL << 29;

    /// <summary>Size of one device's register window.</summary>
    public const ulong WindowSize = 0x1000;
}
