namespace Spinbox.Vmm.Devices;

/// <summary>A device on the port-I/O or MMIO bus. Offsets are relative to the range it was registered at.</summary>
public interface IBusDevice
{
    /// <summary>Fills <paramref name="data"/> (1, 2, 4 or 8 bytes) with the value at <paramref name="offset"/>.</summary>
    void Read(ulong offset, Span<byte> data);

    void Write(ulong offset, ReadOnlySpan<byte> data);
}

/// <summary>An edge-triggered guest interrupt line (an irqfd, or nothing when the VM has no irqchip).</summary>
public interface IInterruptLine
{
    void Raise();
}

/// <summary>For VMs without an in-kernel irqchip: devices still work, the guest polls.</summary>
public sealed class NoInterruptLine : IInterruptLine
{
    public static readonly NoInterruptLine Instance = new();

    public void Raise() { }
}
