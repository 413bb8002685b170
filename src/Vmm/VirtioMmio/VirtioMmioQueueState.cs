namespace Spinbox.Vmm.VirtioMmio;

/// <summary>What the driver wrote for one queue before DRIVER_OK; turned into a Virtqueue at activation.</summary>
internal sealed class VirtioMmioQueueState(ushort maxSize)
{
    public ushort MaxSize { get; } = maxSize;
    public uint Size { get; set; } = maxSize;
    public bool Ready { get; set; }
    public ulong DescriptorTable { get; set; }
    public ulong DriverArea { get; set; }
    public ulong DeviceArea { get; set; }

    public void Reset()
    {
        Size = MaxSize;
        Ready = false;
        DescriptorTable = DriverArea = DeviceArea = 0;
    }

    public static ulong SetLow(ulong current, uint low) => (current & 0xffffffff00000000UL) | low;

    public static ulong SetHigh(ulong current, uint high) => (current & 0xffffffffUL) | ((ulong)high << 32);
}
