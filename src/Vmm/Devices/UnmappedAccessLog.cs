using Microsoft.Extensions.Logging;

namespace Spinbox.Vmm.Devices;

/// <summary>
/// Logs guest accesses to addresses no device claims, once per address and direction (a booting kernel probes the same
/// ports thousands of times), and counts them all. Reads of such addresses return all ones.
/// </summary>
public sealed class UnmappedAccessLog(ILogger logger)
{
    private const int MaxDistinctLogged = 64;
    private readonly HashSet<(string, ulong, bool)> _seen = [];
    private long _total;

    public long Total => Interlocked.Read(ref _total);

    public void Record(string bus, ulong address, int size, bool isWrite, ulong value)
    {
        Interlocked.Increment(ref _total);
        lock (_seen)
        {
            if (_seen.Count >= MaxDistinctLogged || !_seen.Add((bus, address, isWrite))) return;
        }
        if (isWrite)
            logger.LogWarning("guest wrote 0x{Value:x} ({Size} bytes) to unmapped {Bus} address 0x{Address:x}; ignored", value, size, bus, address);
        else
            logger.LogWarning("guest read {Size} bytes from unmapped {Bus} address 0x{Address:x}; returned all ones", size, bus, address);
    }
}
