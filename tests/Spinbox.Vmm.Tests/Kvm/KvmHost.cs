namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>What this host's /dev/kvm can do, for tests that need it (skipped with the reason otherwise).</summary>
public static class KvmHost
{
    private static readonly Lazy<(BackendChoice Choice, string Reason)> Probe =
        new(() => (BackendSelector.Choose("auto", out string reason), reason));

    /// <summary>Null when /dev/kvm opens with API 12, else why not.</summary>
    public static string? MissingKvm =>
        BackendSelector.ProbeKvm(out string why) == KvmUsability.Unavailable ? why : null;

    /// <summary>Null when KVM runs a standard guest (takes exceptions); else why not (no KVM, or PVM).</summary>
    public static string? MissingStandardGuestSupport => Probe.Value.Choice == BackendChoice.Kvm ? null : Probe.Value.Reason;
}
