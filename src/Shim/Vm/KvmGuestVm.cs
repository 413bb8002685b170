using Microsoft.Extensions.Logging;

namespace Spinbox.Shim.Vm;

/// <summary>The kvm backend as an <see cref="IGuestVm"/>: spinbox's own VMM in this process.</summary>
public sealed class KvmGuestVm
{
    public static Task<IGuestVm> StartAsync(VmLaunch launch, ILoggerFactory loggers) =>
        throw new NotSupportedException("kvm backend: not wired into the shim yet");
}
