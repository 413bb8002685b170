using Spinbox.Vmm.Tests.Tcg;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>A [Fact] on /dev/kvm with test guests built here: skipped, with the reason, when either is missing.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (KvmHost.MissingKvm is { } kvm) Skip = kvm;
        else if (TestGuestBuilder.MissingToolchain is { } tool) Skip = tool;
    }
}

/// <summary>A [Fact] that boots the project's guest kernel on /dev/kvm.</summary>
public sealed class KvmLinuxFactAttribute : FactAttribute
{
    public KvmLinuxFactAttribute()
    {
        if (KvmHost.MissingKvm is { } kvm) Skip = kvm;
        else if (GuestKernel.Vmlinux is null) Skip = GuestKernel.SkipReason;
    }
}

/// <summary>A [Fact] that needs a KVM able to run a standard guest (not PVM): skipped with the probe's reason.</summary>
public sealed class KvmStandardGuestFactAttribute : FactAttribute
{
    public KvmStandardGuestFactAttribute()
    {
        if (KvmHost.MissingStandardGuestSupport is { } why) Skip = $"needs a KVM that runs a standard guest: {why}";
        else if (GuestKernel.Vmlinux is null) Skip = GuestKernel.SkipReason;
    }
}
