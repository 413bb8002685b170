namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// The runtimes the end-to-end theories run under: runc proves the harness, spinbox is the product.
/// Spinbox runs only when its shim is built (SPINBOX_SHIM_DIR holds containerd-shim-spinbox-v1) and
/// its config exists (SPINBOX_CONFIG); otherwise its cases are reported as skipped with the reason.
/// spinbox-kvm is the same runtime forced onto the kvm backend (label io.spin.vm.backend=kvm); it runs only
/// where /dev/kvm runs a standard guest, which a PVM host's does not.
/// </summary>
public static class Runtimes
{
    public const string Runc = "runc";
    public const string Spinbox = "spinbox";
    public const string SpinboxKvm = "spinbox-kvm";
    public const string ShimBinary = "containerd-shim-spinbox-v1";

    public static string RuntimeName(string runtime) => runtime switch
    {
        Runc => "io.containerd.runc.v2",
        Spinbox or SpinboxKvm => "io.containerd.spinbox.v1",
        _ => throw new ArgumentException($"runtime must be '{Runc}', '{Spinbox}' or '{SpinboxKvm}', not '{runtime}'", nameof(runtime)),
    };

    public static bool IsSpinbox(string runtime) => runtime is Spinbox or SpinboxKvm;

    /// <summary>Extra `ctr run` flags that select this runtime's backend.</summary>
    public static string[] RunFlags(string runtime) => runtime == SpinboxKvm ? ["--label", "io.spin.vm.backend=kvm"] : [];

    /// <summary>Why a runtime cannot run here, or null when it can.</summary>
    public static string? MissingPrerequisite(string runtime)
    {
        if (Environment.UserName != "root")
            return "end-to-end tests need root (containerd, overlayfs mounts)";
        if (!IsSpinbox(runtime))
            return null;
        var shimDir = Environment.GetEnvironmentVariable("SPINBOX_SHIM_DIR");
        if (string.IsNullOrEmpty(shimDir))
            return $"SPINBOX_SHIM_DIR is not set (a folder holding {ShimBinary})";
        if (!File.Exists(Path.Combine(shimDir, ShimBinary)))
            return $"SPINBOX_SHIM_DIR={shimDir} holds no {ShimBinary}";
        var config = Environment.GetEnvironmentVariable("SPINBOX_CONFIG");
        if (string.IsNullOrEmpty(config))
            return "SPINBOX_CONFIG is not set (the shim's config.json)";
        if (!File.Exists(config))
            return $"SPINBOX_CONFIG={config} does not exist";
        if (runtime == SpinboxKvm && global::Spinbox.Vmm.BackendSelector.ProbeKvm(out string why) != global::Spinbox.Vmm.KvmUsability.Usable)
            return $"the kvm backend cannot run a standard guest here: {why}";
        return null;
    }

    /// <summary>Skips the calling test (reported as skipped, with the reason) when the runtime cannot run.</summary>
    public static void SkipUnlessAvailable(string runtime)
    {
        var missing = MissingPrerequisite(runtime);
        Skip.If(missing is not null, missing);
    }

    /// <summary>Every (containerd version, runtime) pair, for [MemberData].</summary>
    public static TheoryData<string, string> All()
    {
        var data = new TheoryData<string, string>();
        foreach (var version in ContainerdInstances.Versions)
            foreach (var runtime in new[] { Runc, Spinbox, SpinboxKvm })
                data.Add(version, runtime);
        return data;
    }
}
