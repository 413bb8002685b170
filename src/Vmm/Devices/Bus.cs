namespace Spinbox.Vmm.Devices;

/// <summary>
/// Maps address ranges to devices (one instance for port I/O, one for MMIO). Ranges are registered before
/// the vCPUs start; lookups afterwards are lock-free reads of an immutable sorted array.
/// </summary>
public sealed class Bus(string name)
{
    private readonly record struct Range(ulong Base, ulong Length, IBusDevice Device)
    {
        public ulong End => Base + Length;
    }

    private Range[] _ranges = [];

    public string Name { get; } = name;

    public void Register(ulong baseAddress, ulong length, IBusDevice device)
    {
        if (length == 0 || baseAddress + length < baseAddress)
            throw new ArgumentException($"{Name} range 0x{baseAddress:x}+0x{length:x} is empty or wraps", nameof(length));
        foreach (var r in _ranges)
            if (baseAddress < r.End && r.Base < baseAddress + length)
                throw new ArgumentException($"{Name} range 0x{baseAddress:x}+0x{length:x} overlaps 0x{r.Base:x}+0x{r.Length:x}");
        _ranges = [.. _ranges.Append(new Range(baseAddress, length, device)).OrderBy(r => r.Base)];
    }

    /// <summary>Reads from the device at <paramref name="address"/>; false when nothing is mapped there.</summary>
    public bool TryRead(ulong address, Span<byte> data)
    {
        if (!TryFind(address, (ulong)data.Length, out var range)) return false;
        range.Device.Read(address - range.Base, data);
        return true;
    }

    public bool TryWrite(ulong address, ReadOnlySpan<byte> data)
    {
        if (!TryFind(address, (ulong)data.Length, out var range)) return false;
        range.Device.Write(address - range.Base, data);
        return true;
    }

    private bool TryFind(ulong address, ulong length, out Range found)
    {
        var ranges = _ranges;
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var r = ranges[mid];
            if (address < r.Base) hi = mid - 1;
            else if (address >= r.End) lo = mid + 1;
            else
            {
                // An access straddling the end of a range is not the device's.
                found = r;
                return length <= r.End - address;
            }
        }
        found = default;
        return false;
    }
}
