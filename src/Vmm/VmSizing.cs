namespace Spinbox.Vmm;

/// <summary>The size of one VM.</summary>
public readonly record struct VmSize(int Vcpus, ulong MemoryBytes);

/// <summary>
/// Sizes a container's VM from its OCI resources: vCPUs = ceil(quota / period), memory = the container's
/// memory limit plus room for the guest kernel and agent. Absent or unlimited values take the defaults.
/// </summary>
public static class VmSizing
{
    public const int MaxVcpus = Boot.MpTable.MaxVcpus;
    public const ulong GuestOverheadBytes = 64UL << 20;
    public const ulong MinimumMemoryBytes = 128UL << 20;
    private const ulong Alignment = 2UL << 20;

    public static VmSize FromOciResources(long? cpuQuota, long? cpuPeriod, long? memoryLimitBytes, int defaultVcpus, ulong defaultMemoryBytes)
    {
        if (defaultVcpus < 1 || defaultVcpus > MaxVcpus)
            throw new ArgumentOutOfRangeException(nameof(defaultVcpus), $"default vCPU count {defaultVcpus} is outside 1..{MaxVcpus}");
        if (defaultMemoryBytes < MinimumMemoryBytes)
            throw new ArgumentOutOfRangeException(nameof(defaultMemoryBytes), $"default memory {defaultMemoryBytes} is below the minimum {MinimumMemoryBytes}");

        int vcpus = defaultVcpus;
        if (cpuQuota is > 0 && cpuPeriod is > 0)
            vcpus = (int)Math.Clamp((cpuQuota.Value + cpuPeriod.Value - 1) / cpuPeriod.Value, 1, MaxVcpus);

        ulong memory = RoundUp(defaultMemoryBytes);
        // -1 (and 0) mean "no limit" in the OCI spec; a limit beyond 1 TiB is treated as none too.
        if (memoryLimitBytes is > 0 and < 1L << 40)
            memory = Math.Max(RoundUp((ulong)memoryLimitBytes.Value + GuestOverheadBytes), MinimumMemoryBytes);
        return new VmSize(vcpus, memory);
    }

    private static ulong RoundUp(ulong bytes) => (bytes + Alignment - 1) / Alignment * Alignment;
}
