using System.Diagnostics;
using System.Text;
using Spinbox.Virtio.Devices.Blk;
using Spinbox.Vmm.Tcg;
using Xunit.Abstractions;

namespace Spinbox.Vmm.Tests.Tcg;

/// <summary>Boots the real guest kernel under QEMU TCG with spinbox's own virtio-blk devices over vhost-user.</summary>
public sealed class TcgVmBootTests(ITestOutputHelper output) : IDisposable
{
    private const string Marker = "SPINBOX-MARKER-1234";
    private readonly string _dir = Directory.CreateTempSubdirectory("spinbox-tcg-").FullName;
    private readonly TestOutputLogger _logger = new(output);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string InitScript = """
        #!/bin/busybox sh
        /bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin
        /bin/busybox --install -s
        mount -t proc proc /proc
        mount -t sysfs sys /sys
        mount -t devtmpfs dev /dev
        ro=; rw=
        for d in /sys/block/vd*; do
          s=$(cat $d/serial 2>/dev/null)
          [ "$s" = testdisk ] && ro=${d##*/}
          [ "$s" = scratch ] && rw=${d##*/}
        done
        echo "SPINBOX-DISKS ro=$ro rw=$rw"
        echo SPINBOX-SECTOR0-BEGIN
        dd if=/dev/$ro bs=512 count=1 2>/dev/null | od -An -tx1 -v
        echo SPINBOX-SECTOR0-END
        echo -n SPINBOX-MARKER-1234 | dd of=/dev/$rw bs=512 seek=1 conv=sync 2>/dev/null
        sync
        echo SPINBOX-DONE
        poweroff -f
        """;

    private TcgVmConfig Config(string initrd, params Spinbox.Virtio.IVirtioDevice[] devices) => new(
        QemuGuestFactAttribute.Qemu, GuestKernel.Vmlinux!, initrd, "console=ttyS0 panic=-1 quiet rdinit=/init",
        VcpuCount: 1, MemoryBytes: 256UL << 20, ConsoleLogPath: Path.Combine(_dir, "console.log"),
        RuntimeDirectory: Path.Combine(_dir, "run"), Devices: devices);

    [QemuGuestTheory]
    [InlineData("seabios")]
    [InlineData("qboot")]
    public async Task BootsReadsOneDiskWritesTheOtherAndPowersOff(string firmware)
    {
        string? firmwarePath = firmware == "qboot" ? TcgVmConfig.QbootFirmware : null;
        if (firmwarePath != null && !File.Exists(firmwarePath)) firmwarePath = null; // fall back to QEMU's default
        byte[] sector0 = Enumerable.Range(0, 512).Select(i => (byte)(i * 13 + 5)).ToArray();
        string roImage = Path.Combine(_dir, "ro.img"), rwImage = Path.Combine(_dir, "rw.img");
        var ro = new byte[1 << 20];
        sector0.CopyTo(ro, 0);
        File.WriteAllBytes(roImage, ro);
        File.WriteAllBytes(rwImage, new byte[1 << 20]);
        string initrd = TestInitramfs.Build(_dir, InitScript);

        var wall = Stopwatch.StartNew();
        int qemuPid;
        TcgVmTimings timings;
        var config = Config(initrd);
        using (var roDisk = new VirtioBlkDevice(roImage, readOnly: true, serial: "testdisk", logger: _logger))
        using (var rwDisk = new VirtioBlkDevice(rwImage, readOnly: false, serial: "scratch", logger: _logger))
        {
            config = config with { Devices = [roDisk, rwDisk], FirmwarePath = firmwarePath };
            using var vm = await TcgVm.StartAsync(config, _logger);
            qemuPid = vm.ProcessId;
            Assert.Equal(2, vm.SocketPaths.Count);
            var finished = await Task.WhenAny(vm.Exited, Task.Delay(TimeSpan.FromSeconds(50)));
            Assert.True(finished == vm.Exited, $"QEMU still running after 50 s; console: {ReadConsole(config)}");
            Assert.Equal(0, await vm.Exited);
            timings = vm.Timings;
        }
        output.WriteLine($"{firmware}: boot to power-off {wall.ElapsedMilliseconds} ms wall; {timings}");

        string console = ReadConsole(config);
        output.WriteLine(console);
        Assert.Contains("SPINBOX-DONE", console);
        Assert.Equal(sector0, ParseSector(console));
        byte[] rw = File.ReadAllBytes(rwImage);
        Assert.Equal(Marker, Encoding.ASCII.GetString(rw, 512, Marker.Length));
        Assert.All(rw.AsSpan(512 + Marker.Length, 512 - Marker.Length).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(ro, File.ReadAllBytes(roImage));

        // Nothing left behind: no socket, no QEMU.
        Assert.Empty(Directory.GetFileSystemEntries(config.RuntimeDirectory));
        Assert.False(ProcessExists(qemuPid), $"QEMU pid {qemuPid} still exists");
        Assert.NotNull(timings.FirstConsoleByte);
        Assert.DoesNotContain(_logger.Lines, l => l.StartsWith("Error"));
    }

    [QemuGuestFact]
    public async Task StopAsyncEndsARunningGuestAndCleansUp()
    {
        string initrd = TestInitramfs.Build(_dir, "#!/bin/busybox sh\n/bin/busybox sleep 1000\n");
        string image = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        using var disk = new VirtioBlkDevice(image, readOnly: true, serial: "idle");
        var config = Config(initrd, disk);
        var vm = await TcgVm.StartAsync(config, _logger);
        int pid = vm.ProcessId;
        await vm.StopAsync(TimeSpan.FromSeconds(10));
        Assert.True(vm.Exited.IsCompleted);
        vm.Dispose();
        Assert.False(ProcessExists(pid));
        Assert.Empty(Directory.GetFileSystemEntries(config.RuntimeDirectory));
    }

    [Fact]
    public async Task QemuThatExitsEarlyFailsStartWithItsStderrAndCleansUp()
    {
        string kernel = Path.Combine(_dir, "not-a-kernel");
        File.WriteAllText(kernel, "x");
        string image = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(image, new byte[4096]);
        using var disk = new VirtioBlkDevice(image, readOnly: true, serial: "early");
        // A "QEMU" that prints an error and exits 3 before connecting to any device.
        string fake = Path.Combine(_dir, "fake-qemu");
        File.WriteAllText(fake, "#!/bin/sh\necho 'fake-qemu: no such machine' >&2\nexit 3\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var config = new TcgVmConfig(fake, kernel, null, "quiet", 1, 64UL << 20, Path.Combine(_dir, "c.log"), Path.Combine(_dir, "run"), [disk]);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => TcgVm.StartAsync(config, _logger));
        Assert.Contains("exited with code 3", e.Message);
        Assert.Contains("fake-qemu: no such machine", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(config.RuntimeDirectory));
    }

    private static string ReadConsole(TcgVmConfig config) =>
        File.Exists(config.ConsoleLogPath) ? File.ReadAllText(config.ConsoleLogPath) : "(no console log)";

    private static byte[] ParseSector(string console)
    {
        int begin = console.IndexOf("SPINBOX-SECTOR0-BEGIN", StringComparison.Ordinal);
        int end = console.IndexOf("SPINBOX-SECTOR0-END", StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "sector dump markers missing from the console");
        string hex = console[(begin + "SPINBOX-SECTOR0-BEGIN".Length)..end];
        return hex.Split((char[])[' ', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(h => Convert.ToByte(h, 16)).ToArray();
    }

    private static bool ProcessExists(int pid) => Directory.Exists($"/proc/{pid}");
}
