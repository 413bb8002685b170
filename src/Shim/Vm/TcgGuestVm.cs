using Microsoft.Extensions.Logging;
using Spinbox.Vmm.Tcg;

namespace Spinbox.Shim.Vm;

/// <summary>The tcg backend as an <see cref="IGuestVm"/>: QEMU as the CPU, our devices over vhost-user.</summary>
public sealed class TcgGuestVm : IGuestVm
{
    private readonly TcgVm _vm;

    private TcgGuestVm(TcgVm vm)
    {
        _vm = vm;
        Stopped = vm.Exited.ContinueWith(t => t.IsCompletedSuccessfully ? $"QEMU exited with code {t.Result}" : "QEMU lost", TaskScheduler.Default);
    }

    public string Backend => "tcg";
    public int ProcessId => _vm.ProcessId;
    public Task<string> Stopped { get; }

    public static async Task<IGuestVm> StartAsync(VmLaunch launch, ILoggerFactory loggers, CancellationToken ct)
    {
        var config = new TcgVmConfig(
            launch.Config.Qemu, RequireFile(launch.Config.Kernel, "kernel"), RequireFile(launch.Config.Initrd, "initrd"),
            launch.Cmdline, launch.Vcpus, launch.MemoryBytes, launch.Paths.ConsoleLog,
            Path.Combine(launch.Paths.State, "vhost"), launch.Devices);
        return new TcgGuestVm(await TcgVm.StartAsync(config, loggers.CreateLogger("tcg"), ct));
    }

    internal static string RequireFile(string path, string field) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"spinbox config \"{field}\": no file at {path}", path);

    public Task StopAsync(TimeSpan grace) => _vm.StopAsync(grace);

    public ValueTask DisposeAsync()
    {
        _vm.Dispose();
        return ValueTask.CompletedTask;
    }
}
