using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Spinbox.Virtio.Devices.Vsock;
using Spinbox.Virtio.VhostUser;
using Xunit.Abstractions;

namespace Spinbox.Virtio.Tests.Vsock;

/// <summary>
/// The device against a real Linux guest: QEMU TCG as CPU emulator, the device behind spinbox's own
/// vhost-user back end as vhost-user-vsock-pci, a static C program as the guest's /init.
/// </summary>
public sealed class LinuxGuestVsockTests(ITestOutputHelper output)
{
    private const string Greeting = "hello from the guest";
    private const int Bulk = 1024 * 1024;

    [LinuxGuestFact]
    public async Task LinuxGuest_EchoesOneMiBEachWay_AndAcceptsHostConnect()
    {
        var dir = Directory.CreateTempSubdirectory("spinbox-vsock-guest-").FullName;
        try
        {
            var initramfs = BuildInitramfs(dir);
            var logger = new TestOutputLogger(output);
            using var device = new VirtioVsockDevice(3, logger);
            var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            var pong = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            device.Listen(1024, stream => _ = EchoThenConnectBackAsync(device, stream, received, pong));
            var socket = Path.Combine(dir, "vsock.sock");
            using var backend = new VhostUserBackend(device, socket, logger);
            var serving = backend.RunAsync();

            var consolePath = Path.Combine(dir, "console.log");
            var stopwatch = Stopwatch.StartNew();
            using var qemu = Process.Start(new ProcessStartInfo("qemu-system-x86_64")
            {
                ArgumentList =
                {
                    "-accel", "tcg", "-machine", "q35,memory-backend=mem", "-m", "256M", "-smp", "1",
                    "-object", "memory-backend-memfd,id=mem,size=256M,share=on",
                    "-kernel", LinuxGuestFactAttribute.Kernel!, "-initrd", initramfs,
                    "-append", "console=ttyS0 panic=-1 quiet",
                    "-chardev", $"socket,id=vsock,path={socket}", "-device", "vhost-user-vsock-pci,chardev=vsock",
                    "-display", "none", "-nodefaults", "-no-user-config", "-no-reboot",
                    "-serial", $"file:{consolePath}",
                },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            var stderr = qemu.StandardError.ReadToEndAsync();
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            try { await qemu.WaitForExitAsync(limit.Token); }
            catch (OperationCanceledException) { qemu.Kill(); }
            string console = File.Exists(consolePath) ? await File.ReadAllTextAsync(consolePath) : "";
            output.WriteLine($"QEMU exited after {stopwatch.Elapsed.TotalSeconds:0.0} s with {(qemu.HasExited ? qemu.ExitCode : -1)}");
            output.WriteLine("console:\n" + console);
            output.WriteLine("qemu stderr:\n" + await stderr);

            Assert.True(received.Task.IsCompletedSuccessfully, "the guest's connection never delivered its data to the host");
            var data = received.Task.Result;
            Assert.Equal(Greeting.Length + Bulk, data.Length);
            Assert.Equal(Greeting, System.Text.Encoding.ASCII.GetString(data, 0, Greeting.Length));
            for (int i = 0; i < Bulk; i++)
                if (data[Greeting.Length + i] != (byte)(i * 7 % 251)) Assert.Fail($"byte {i} of the bulk data is wrong");
            Assert.Contains($"VSOCK-ECHO-OK {Greeting.Length + Bulk} {Greeting}", console);
            Assert.True(pong.Task.IsCompletedSuccessfully, $"host connect to the guest failed: {pong.Task.Exception?.InnerException?.Message}");
            Assert.Equal("pong", pong.Task.Result);
            Assert.Contains("VSOCK-ACCEPT-OK ping", console);
            await serving.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Reads until the guest half-closes, sends it all back and closes; then connects to the guest's port 2000,
    /// sends "ping" and reads the answer to EOF.
    /// </summary>
    private static async Task EchoThenConnectBackAsync(VirtioVsockDevice device, VsockStream stream,
        TaskCompletionSource<byte[]> received, TaskCompletionSource<string> pong)
    {
        try
        {
            await using (stream)
            {
                var all = new MemoryStream();
                await stream.CopyToAsync(all);
                received.TrySetResult(all.ToArray());
                await stream.WriteAsync(all.ToArray());
            }
            await using var back = await device.ConnectAsync(2000, CancellationToken.None);
            await back.WriteAsync("ping"u8.ToArray());
            var answer = new MemoryStream();
            await back.CopyToAsync(answer);
            pong.TrySetResult(System.Text.Encoding.ASCII.GetString(answer.ToArray()));
        }
        catch (Exception e)
        {
            received.TrySetException(e);
            pong.TrySetException(e);
        }
    }

    private static string BuildInitramfs(string dir)
    {
        var root = Directory.CreateDirectory(Path.Combine(dir, "root")).FullName;
        Directory.CreateDirectory(Path.Combine(root, "dev"));
        var source = Path.Combine(SourceDirectory(), "guest_vsock_echo.c");
        Run("gcc", ["-static", "-O2", "-o", Path.Combine(root, "init"), source]);
        var cpio = Path.Combine(dir, "initramfs.cpio");
        Run("sh", ["-c", $"cd '{root}' && find . | cpio -o -H newc --quiet > '{cpio}'"]);
        return cpio;
    }

    /// <summary>The folder of this source file: the guest program is compiled from source at test time.</summary>
    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    private static void Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd() + p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {err}");
    }
}

/// <summary>Runs only where QEMU with vhost-user-vsock, gcc with a static libc, cpio and a built guest kernel exist.</summary>
public sealed class LinuxGuestFactAttribute : FactAttribute
{
    public static readonly string? Kernel = FindKernel();
    private static readonly string? Missing = FindMissing();

    public LinuxGuestFactAttribute()
    {
        if (Missing != null) Skip = Missing;
    }

    private static string? FindMissing()
    {
        foreach (var tool in new[] { "qemu-system-x86_64", "gcc", "cpio" })
            if (!OnPath(tool)) return $"{tool} is not installed";
        if (!File.Exists("/usr/lib/x86_64-linux-gnu/libc.a")) return "no static libc (libc6-dev) for the guest program";
        if (Kernel == null) return "no guest kernel with CONFIG_VIRTIO_VSOCKETS: run guest-kernel/build.sh or set SPINBOX_GUEST_KERNEL";
        try
        {
            using var p = Process.Start(new ProcessStartInfo("qemu-system-x86_64", "-device help") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string devices = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (!devices.Contains("vhost-user-vsock-pci")) return "this QEMU has no vhost-user-vsock-pci (QEMU 10 from bookworm-backports has it)";
        }
        catch (Exception e) { return $"cannot run qemu-system-x86_64: {e.Message}"; }
        return null;
    }

    /// <summary>SPINBOX_GUEST_KERNEL, else the newest vmlinux that guest-kernel/build.sh cached.</summary>
    private static string? FindKernel()
    {
        var explicitPath = Environment.GetEnvironmentVariable("SPINBOX_GUEST_KERNEL");
        if (!string.IsNullOrEmpty(explicitPath)) return File.Exists(explicitPath) ? explicitPath : null;
        var cache = Path.Combine(Environment.GetEnvironmentVariable("SPINBOX_CACHE") ?? "/var/cache/spinbox", "kernel");
        if (!Directory.Exists(cache)) return null;
        return Directory.GetDirectories(cache)
            .Where(d => File.Exists(Path.Combine(d, "vmlinux")) && File.Exists(Path.Combine(d, "config"))
                        && File.ReadAllText(Path.Combine(d, "config")).Contains("CONFIG_VIRTIO_VSOCKETS=y"))
            .OrderByDescending(d => File.GetLastWriteTimeUtc(Path.Combine(d, "vmlinux")))
            .Select(d => Path.Combine(d, "vmlinux"))
            .FirstOrDefault();
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, tool)));
}

/// <summary>Routes device and back-end log lines into the test output.</summary>
internal sealed class TestOutputLogger(ITestOutputHelper output) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try { output.WriteLine($"[{logLevel}] {formatter(state, exception)}{(exception is null ? "" : " " + exception)}"); }
        catch (InvalidOperationException) { } // the test already finished
    }
}
