using System.Diagnostics;

namespace Spinbox.Agent.Tests.Vm;

/// <summary>One QEMU TCG run of the agent initramfs (q35, shared memfd RAM so vhost-user devices work).
/// -cpu max: NativeAOT code needs x86-64-v2, which QEMU's default CPU model lacks.</summary>
internal sealed class QemuGuest : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;

    public QemuGuest(string consolePath, string cmdlineExtra, IEnumerable<string> deviceArgs)
    {
        ConsolePath = consolePath;
        var psi = new ProcessStartInfo(GuestImages.Qemu) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] args =
        [
            "-accel", "tcg", "-machine", "q35", "-cpu", "max", "-m", "512M", "-smp", "1",
            "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-numa", "node,memdev=mem",
            "-bios", "/usr/share/qemu/qboot.rom",
            "-kernel", GuestImages.Kernel!, "-initrd", GuestImages.Initramfs!,
            "-append", $"console=ttyS0 panic=-1 quiet {cmdlineExtra}".Trim(),
            "-display", "none", "-nodefaults", "-no-user-config", "-no-reboot",
            "-serial", $"file:{consolePath}",
        ];
        foreach (string a in args.Concat(deviceArgs))
        {
            psi.ArgumentList.Add(a);
        }

        Started = Stopwatch.StartNew();
        _process = Process.Start(psi)!;
        _stderr = _process.StandardError.ReadToEndAsync();
        _ = _process.StandardOutput.ReadToEndAsync();
    }

    public string ConsolePath { get; }

    public Stopwatch Started { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Waits for QEMU to exit (the guest powered off); false when it was still running and got killed.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            return false;
        }
    }

    public int ExitCode => _process.ExitCode;

    public string Console() => File.Exists(ConsolePath) ? File.ReadAllText(ConsolePath) : "";

    public Task<string> Stderr => _stderr;

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}
