using Microsoft.Extensions.Logging;
using Spinbox.Virtio;
using Spinbox.Vmm;

namespace Spinbox.Shim.Vm;

/// <summary>
/// The kvm backend as an <see cref="IGuestVm"/>: spinbox's own VMM in this process, every device ours over
/// virtio-mmio (no QEMU; KVM keeps executed pages coherent, so disks with programs need no special case).
/// </summary>
public sealed class KvmGuestVm : IGuestVm
{
    private readonly KvmVm _vm;
    private readonly List<IVirtioDevice> _blockDevices;

    private KvmGuestVm(KvmVm vm, List<IVirtioDevice> blockDevices)
    {
        _vm = vm;
        _blockDevices = blockDevices;
        Stopped = vm.Stopped.ContinueWith(t => t.IsCompletedSuccessfully ? t.Result.ToString() : "VMM failed", TaskScheduler.Default);
    }

    public string Backend => "kvm";
    public int ProcessId => Environment.ProcessId;
    public Task<string> Stopped { get; }

    public static Task<IGuestVm> StartAsync(VmLaunch launch, ILoggerFactory loggers)
    {
        var blocks = DiskDevices.Create(launch.Disks, loggers);
        var devices = new List<IVirtioDevice> { launch.Vsock };
        devices.AddRange(blocks);
        KvmVm? vm = null;
        try
        {
            vm = new KvmVm(new KvmVmConfig
            {
                KernelPath = TcgGuestVm.RequireFile(launch.Config.Kernel, "kernel"),
                InitrdPath = TcgGuestVm.RequireFile(launch.Config.Initrd, "initrd"),
                Cmdline = launch.Cmdline,
                Vcpus = launch.Vcpus,
                MemoryBytes = launch.MemoryBytes,
                ConsoleLogPath = launch.Paths.ConsoleLog,
                Devices = devices,
                Logger = loggers.CreateLogger("kvm"),
            });
            vm.Start();
            return Task.FromResult<IGuestVm>(new KvmGuestVm(vm, blocks));
        }
        catch
        {
            vm?.Dispose();
            foreach (var b in blocks) b.Dispose();
            throw;
        }
    }

    public async Task StopAsync(TimeSpan grace)
    {
        if (Stopped.IsCompleted) return;
        _vm.RequestStop("stop requested by the shim");
        await Task.WhenAny(Stopped, Task.Delay(grace));
    }

    public ValueTask DisposeAsync()
    {
        _vm.Dispose();
        foreach (var b in _blockDevices) b.Dispose();
        return ValueTask.CompletedTask;
    }
}
