namespace Spinbox.Vmm.Tests.Kvm;

public sealed class SizingAndBackendTests
{
    private const ulong MiB = 1UL << 20;

    [Fact]
    public void Vcpus_are_the_cpu_quota_rounded_up()
    {
        Assert.Equal(2, VmSizing.FromOciResources(150_000, 100_000, null, 1, 512 * MiB).Vcpus);
        Assert.Equal(1, VmSizing.FromOciResources(50_000, 100_000, null, 4, 512 * MiB).Vcpus);
        Assert.Equal(32, VmSizing.FromOciResources(10_000_000, 100_000, null, 1, 512 * MiB).Vcpus);
    }

    [Fact]
    public void Missing_or_unlimited_resources_take_the_defaults()
    {
        Assert.Equal(new VmSize(3, 512 * MiB), VmSizing.FromOciResources(null, null, null, 3, 512 * MiB));
        Assert.Equal(new VmSize(3, 512 * MiB), VmSizing.FromOciResources(-1, 100_000, -1, 3, 512 * MiB));
        Assert.Equal(new VmSize(3, 512 * MiB), VmSizing.FromOciResources(100_000, 0, 0, 3, 512 * MiB));
    }

    [Fact]
    public void Memory_is_the_limit_plus_guest_overhead_rounded_to_2_mib_with_a_floor()
    {
        Assert.Equal(1024 * MiB + VmSizing.GuestOverheadBytes, VmSizing.FromOciResources(null, null, 1L << 30, 1, 512 * MiB).MemoryBytes);
        Assert.Equal(302 * MiB, VmSizing.FromOciResources(null, null, 237 * (long)MiB + 1, 1, 512 * MiB).MemoryBytes);
        Assert.Equal(VmSizing.MinimumMemoryBytes, VmSizing.FromOciResources(null, null, 4 * (long)MiB, 1, 512 * MiB).MemoryBytes);
    }

    [Fact]
    public void Bad_defaults_are_named()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => VmSizing.FromOciResources(null, null, null, 0, 512 * MiB));
        Assert.Contains("default vCPU count 0", e.Message);
    }

    [Fact]
    public void Forced_backends_are_honoured_and_unknown_names_are_refused()
    {
        Assert.Equal(BackendChoice.Tcg, BackendSelector.Choose("tcg", out string tcgReason));
        Assert.Equal("backend tcg was requested", tcgReason);
        Assert.Equal(BackendChoice.Kvm, BackendSelector.Choose("KVM", out string kvmReason));
        Assert.StartsWith("backend kvm was requested", kvmReason);
        var e = Assert.Throws<ArgumentException>(() => BackendSelector.Choose("xen", out _));
        Assert.Contains("backend 'xen' is not one of auto, kvm, tcg", e.Message);
    }

    [Fact]
    public void Auto_without_dev_kvm_chooses_tcg_and_says_why()
    {
        Assert.Equal(BackendChoice.Tcg, BackendSelector.Choose("auto", "/nonexistent/kvm", out string reason));
        Assert.Equal("auto chose tcg: /nonexistent/kvm does not exist (no hardware virtualization, or the kvm module is not loaded)", reason);
    }

    [Fact]
    public void Auto_on_this_host_probes_kvm_with_an_exception_taking_guest()
    {
        var choice = BackendSelector.Choose("auto", out string reason);
        if (!File.Exists("/dev/kvm"))
        {
            Assert.Equal(BackendChoice.Tcg, choice);
            Assert.Contains("does not exist", reason);
        }
        else if (Directory.Exists("/sys/module/kvm_pvm"))
        {
            // This machine: PVM runs small exception-free guests but not a standard Linux guest.
            Assert.Equal(BackendChoice.Tcg, choice);
            Assert.Contains("PVM (module kvm_pvm is loaded)", reason);
            Assert.Contains("a probe guest taking an exception failed", reason);
        }
        else
        {
            Assert.Equal(BackendChoice.Kvm, choice);
            Assert.Equal("auto chose kvm: /dev/kvm (API 12) ran a probe guest that took and returned from an exception", reason);
        }
    }
}
