using Microsoft.Extensions.Logging;
using Spinbox.Virtio;
using Spinbox.Vmm.Tcg;

namespace Spinbox.Shim.Vm;

/// <summary>
/// The tcg backend as an <see cref="IGuestVm"/>: QEMU as the CPU, our vsock and block devices over vhost-user.
/// A disk the guest runs programs from is QEMU's own virtio-blk instead: TCG would otherwise keep executing
/// stale translations of pages our back end rewrote (see <see cref="QemuDrive"/>).
/// </summary>
public sealed class TcgGuestVm : IGuestVm
{
    private readonly TcgVm _vm;
    private readonly List<IVirtioDevice> _blockDevices;

    private TcgGuestVm(TcgVm vm, List<IVirtioDevice> blockDevices)
    {
        _vm = vm;
        _blockDevices = blockDevices;
        Stopped = vm.Exited.ContinueWith(t => t.IsCompletedSuccessfully ? $"QEMU exited with code {t.Result}" : "QEMU lost", TaskScheduler.Default);
    }

    public string Backend => "tcg";
    public int ProcessId => _vm.ProcessId;
    public Task<string> Stopped { get; }

    public static async Task<IGuestVm> StartAsync(VmLaunch launch, ILoggerFactory loggers, CancellationToken ct)
    {
        var blocks = DiskDevices.Create(launch.Disks.Where(d => !d.HoldsPrograms), loggers);
        var qemuDrives = launch.Disks.Where(d => d.HoldsPrograms).Select(d => new QemuDrive(d.Path, d.Serial, d.ReadOnly)).ToList();
        var devices = new List<IVirtioDevice> { launch.Vsock };
        devices.AddRange(blocks);
        try
        {
            var config = new TcgVmConfig(
                launch.Config.Qemu, RequireFile(launch.Config.Kernel, "kernel"), RequireFile(launch.Config.Initrd, "initrd"),
                launch.Cmdline, launch.Vcpus, launch.MemoryBytes, launch.Paths.ConsoleLog,
                Path.Combine(launch.Paths.State, "vhost"), devices, QemuDrives: qemuDrives);
            return new TcgGuestVm(await TcgVm.StartAsync(config, loggers.CreateLogger("tcg"), ct), blocks);
        }
        catch
        {
            foreach (var b in blocks) b.Dispose();
            throw;
        }
    }

    internal static string RequireFile(string path, string field) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"spinbox config \"{field}\": no file at {path}", path);

    public Task StopAsync(TimeSpan grace) => _vm.StopAsync(grace);

    public ValueTask DisposeAsync()
    {
        _vm.Dispose();
        foreach (var b in _blockDevices) b.Dispose();
        return ValueTask.CompletedTask;
    }
}
