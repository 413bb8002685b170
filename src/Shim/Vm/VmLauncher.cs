using Microsoft.Extensions.Logging;
using Spinbox.Shim.Commands;
using Spinbox.Shim.Config;
using Spinbox.Virtio.Devices.Vsock;
using Spinbox.Vmm;

namespace Spinbox.Shim.Vm;

/// <summary>Inputs for one VM launch, independent of the backend.</summary>
public sealed record VmLaunch(
    SpinboxConfig Config, ShimPaths Paths, string Cmdline, int Vcpus, ulong MemoryBytes,
    VirtioVsockDevice Vsock, IReadOnlyList<DiskSpec> Disks, string RequestedBackend);

/// <summary>Chooses the backend (auto = kvm when this host's KVM runs a standard guest, else tcg) and boots.</summary>
public static class VmLauncher
{
    public static async Task<IGuestVm> StartAsync(VmLaunch launch, ILoggerFactory loggers, CancellationToken ct)
    {
        var logger = loggers.CreateLogger("vm");
        var choice = BackendSelector.Choose(launch.RequestedBackend, out string reason);
        // The reason already says what was requested and what was chosen.
        if (launch.RequestedBackend == "auto" && choice == BackendChoice.Tcg) logger.LogWarning("backend: {Reason}", reason);
        else logger.LogInformation("backend: {Reason}", reason);
        return choice == BackendChoice.Kvm
            ? await KvmGuestVm.StartAsync(launch, loggers)
            : await TcgGuestVm.StartAsync(launch, loggers, ct);
    }
}
