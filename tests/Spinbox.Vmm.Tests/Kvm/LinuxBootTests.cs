using Spinbox.Vmm.Boot;
using Spinbox.Vmm.Tests.Tcg;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>
/// The project's guest kernel on the kvm backend. Here (PVM) it dies at its first exception, after early boot;
/// the assertions cover what it prints before that: the banner, the exact command line and our e820 map.
/// </summary>
public sealed class LinuxBootTests
{
    private const string Cmdline = "console=ttyS0 earlyprintk=serial,ttyS0 spinbox.test=1 reboot=k panic=-1";
    private static readonly TimeSpan EarlyBootTimeout = TimeSpan.FromSeconds(40);

    [KvmLinuxFact]
    public Task Elf_vmlinux_early_boot_prints_the_banner_our_command_line_and_our_e820_map() => EarlyBoot("vmlinux");

    /// <summary>With a virtio-blk device attached, its virtio_mmio.device= entry reaches the kernel's command line.</summary>
    [KvmLinuxFact]
    public async Task Attached_devices_are_announced_on_the_kernel_command_line()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("disk.img"), new byte[1 << 20]);
        using var blk = new Spinbox.Virtio.Devices.Blk.VirtioBlkDevice(dir.File("disk.img"), readOnly: true, serial: "boot-test");
        await EarlyBoot("vmlinux", blk, $"{Cmdline} virtio_mmio.device=4K@0xd0000000:5");
    }

    /// <summary>The bzImage first runs its XZ decompressor: minutes where the guest is emulated (PVM).</summary>
    [KvmStandardGuestFact]
    public Task BzImage_early_boot_prints_the_banner_our_command_line_and_our_e820_map() => EarlyBoot("bzImage");

    private static async Task EarlyBoot(string file, Spinbox.Virtio.IVirtioDevice? device = null, string? expectedCmdline = null)
    {
        expectedCmdline ??= Cmdline;
        string kernel = Path.Combine(Path.GetDirectoryName(GuestKernel.Vmlinux!)!, file);
        using var dir = new TempDir();
        var logger = new TestLogger();
        using var vm = new KvmVm(new KvmVmConfig
        {
            KernelPath = kernel,
            Cmdline = Cmdline,
            Vcpus = 2,
            MemoryBytes = 256UL << 20,
            ConsoleLogPath = dir.File("console.log"),
            Logger = logger,
            Devices = device is null ? [] : [device],
        });
        vm.Start();
        var info = vm.BootInfo!;
        string[] e820Lines = info.E820.Select(e => e.LinuxBootLine).ToArray();

        // Wait for the last e820 line (or for the VM to stop, e.g. at its first exception on PVM).
        var deadline = DateTime.UtcNow + EarlyBootTimeout;
        while (DateTime.UtcNow < deadline && !vm.Stopped.IsCompleted && !e820Lines.All(vm.SerialConsole.Text.Contains))
            await Task.Delay(100);
        vm.RequestStop("early boot checked");
        var reason = await vm.Stopped.WaitAsync(TimeSpan.FromSeconds(10));

        string console = File.ReadAllText(dir.File("console.log"));
        Assert.True(console.Contains("Linux version"), $"no banner; stopped with {reason}; console:\n{console}\nlog:\n{logger.Text}");
        Assert.Contains($"Command line: {expectedCmdline}\n", console.Replace("\r\n", "\n"));
        Assert.Equal(expectedCmdline, info.Cmdline);
        foreach (string line in e820Lines) Assert.Contains(line, console);
        Assert.Equal(file == "vmlinux" ? "ELF vmlinux" : "bzImage", info.KernelFormat);
        Assert.Contains(logger.Lines, l => l.Contains($"kvm VM stopped: {reason.Kind}"));
    }
}
