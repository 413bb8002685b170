// TEMPORARY placeholder until the kvm helper lands BackendSelector and VmSizing; delete then.
namespace Spinbox.Vmm;

public enum BackendChoice { Kvm, Tcg }

public static class BackendSelector
{
    public static BackendChoice Choose(string requested, out string reason)
    {
        reason = "placeholder: tcg only";
        return BackendChoice.Tcg;
    }
}

public readonly record struct VmSize(int Vcpus, ulong MemoryBytes);

public static class VmSizing
{
    public static VmSize FromOciResources(long? cpuQuota, long? cpuPeriod, long? memoryLimitBytes, int defaultVcpus, ulong defaultMemoryBytes)
        => new(defaultVcpus, defaultMemoryBytes);
}
