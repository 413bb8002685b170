using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Spinbox.Virtio.Devices.Vsock;
using Spinbox.Vmm.Tcg;
using Spinbox.Vmm.Tests.Tcg;
using Xunit.Abstractions;

namespace Spinbox.Vmm.Tests.Vsock;

/// <summary>
/// The guest kernel under the tcg backend with spinbox's virtio-vsock device as vhost-user-vsock-pci: a
/// static C /init connects to CID 2, and the connection ends in this process as a VsockStream.
/// </summary>
public sealed class TcgVsockTests(ITestOutputHelper output) : IDisposable
{
    private const string Message = "spinbox vsock says hello";
    private readonly string _dir = Directory.CreateTempSubdirectory("spinbox-tcg-vsock-").FullName;
    private readonly TestOutputLogger _logger = new(output);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [QemuGuestFact]
    public async Task GuestConnectsToHost_WritesMessage_ReadsEcho()
    {
        string initrd = BuildInitramfs();
        using var device = new VirtioVsockDevice(3, _logger);
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.Listen(1024, stream => _ = EchoAsync(stream, received));
        var config = new TcgVmConfig(
            QemuGuestFactAttribute.Qemu, GuestKernel.Vmlinux!, initrd, "console=ttyS0 panic=-1 quiet rdinit=/init",
            VcpuCount: 1, MemoryBytes: 256UL << 20, ConsoleLogPath: Path.Combine(_dir, "console.log"),
            RuntimeDirectory: Path.Combine(_dir, "run"), Devices: [device]);

        var stopwatch = Stopwatch.StartNew();
        using (var vm = await TcgVm.StartAsync(config, _logger))
        {
            var exited = await Task.WhenAny(vm.Exited, Task.Delay(TimeSpan.FromSeconds(60)));
            output.WriteLine($"QEMU ran {stopwatch.Elapsed.TotalSeconds:0.0} s; stderr: {vm.QemuStderrTail}");
            Assert.True(exited == vm.Exited, "the guest did not power off within 60 s");
            Assert.Equal(0, await vm.Exited);
        }
        string console = await File.ReadAllTextAsync(config.ConsoleLogPath);
        output.WriteLine("console:\n" + console);

        Assert.True(received.Task.IsCompletedSuccessfully, "no guest connection reached the host listener");
        Assert.Equal(Message, received.Task.Result);
        Assert.Contains($"VSOCK-ECHO[{Message}]", console);
    }

    /// <summary>Reads the guest's message, sends it back and closes (the guest reads to EOF).</summary>
    private static async Task EchoAsync(VsockStream stream, TaskCompletionSource<string> received)
    {
        await using (stream)
        {
            try
            {
                var buffer = new byte[Message.Length];
                await stream.ReadExactlyAsync(buffer);
                received.TrySetResult(Encoding.ASCII.GetString(buffer));
                await stream.WriteAsync(buffer);
            }
            catch (Exception e) { received.TrySetException(e); }
        }
    }

    /// <summary>gcc -static builds the guest's /init from the C source beside this file; cpio packs it.</summary>
    private string BuildInitramfs()
    {
        string root = Directory.CreateDirectory(Path.Combine(_dir, "root")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "dev"));
        Run("gcc", "-static", "-O2", "-o", Path.Combine(root, "init"), Path.Combine(SourceDirectory(), "vsock_hello.c"));
        string cpio = Path.Combine(_dir, "initramfs.cpio");
        Run("sh", "-c", $"cd '{root}' && find . | cpio -o -H newc --quiet > '{cpio}'");
        return cpio;
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} failed with {p.ExitCode}: {stderr}{stdout.Result}");
    }
}
