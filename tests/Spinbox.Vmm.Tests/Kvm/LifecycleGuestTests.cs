using System.Text;
using Spinbox.Vmm.Boot;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>How a VM stops: i8042 reset, host request, HLT of every vCPU; and that no VMM thread outlives it.</summary>
public sealed class LifecycleGuestTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>vCPU 0 prints 'R' and pulses reset through the i8042; every other vCPU spins forever.</summary>
    private const string ResetGuest = """
        .code16
        .globl _start
        _start:
            test %di, %di
            jnz spin
            mov $0x3f8, %dx
            mov $'R', %al
            outb %al, %dx
        wait_input_empty:
            inb $0x64, %al
            test $2, %al
            jnz wait_input_empty
            mov $0xfe, %al
            outb %al, $0x64
        spin:
            pause
            jmp spin
        """;

    /// <summary>vCPU 0 prints "cpu0\n" then sets a flag; vCPU 1 waits for the flag, prints "cpu1\n". Both HLT.</summary>
    private const string TwoVcpuGuest = """
        .code16
        .globl _start
        _start:
            mov $0x3f8, %dx
            test %di, %di
            jz print
        wait_turn:
            pause
            cmpb $1, flag
            jne wait_turn
        print:
            mov $'c', %al
            outb %al, %dx
            mov $'p', %al
            outb %al, %dx
            mov $'u', %al
            outb %al, %dx
            mov %di, %ax
            add $'0', %al
            outb %al, %dx
            mov $'\n', %al
            outb %al, %dx
            movb $1, flag
            hlt
        flag:
            .byte 0
        """;

    private const string SpinGuest = """
        .code16
        .globl _start
        _start:
            mov $0x3f8, %dx
            mov $'S', %al
            outb %al, %dx
        spin:
            jmp spin
        """;

    [KvmFact]
    public void I8042_reset_stops_the_vm_with_the_reset_reason_and_leaves_no_thread()
    {
        var code = TestGuestBuilder.Assemble(ResetGuest, 0x1000);
        using var vm = new TestVm(new FlatImage(code, 0x1000, CpuMode.Real16), vcpus: 2);

        var reason = vm.RunToStop(Timeout);

        Assert.Equal(VmStopKind.GuestReset, reason.Kind);
        Assert.Contains("i8042", reason.Detail);
        Assert.Equal("R", Encoding.ASCII.GetString(vm.ConsoleLogBytes()));
        Assert.Contains(vm.Logger.Lines, l => l.Contains("kvm VM stopped: GuestReset"));
        AssertNoVmThreadLeft(vm.Vm);
    }

    [KvmFact]
    public void Two_vcpus_each_print_their_own_id()
    {
        var code = TestGuestBuilder.Assemble(TwoVcpuGuest, 0x1000);
        using var vm = new TestVm(new FlatImage(code, 0x1000, CpuMode.Real16), vcpus: 2);

        var reason = vm.RunToStop(Timeout);

        Assert.Equal(VmStopKind.AllVcpusHalted, reason.Kind);
        Assert.Equal("all 2 vCPU(s) executed HLT", reason.Detail);
        Assert.Equal("cpu0\ncpu1\n", Encoding.ASCII.GetString(vm.ConsoleLogBytes()));
    }

    [KvmFact]
    public async Task Host_stop_request_interrupts_a_spinning_guest()
    {
        var code = TestGuestBuilder.Assemble(SpinGuest, 0x1000);
        using var vm = new TestVm(new FlatImage(code, 0x1000, CpuMode.Real16));
        vm.Vm.Start();
        await vm.Vm.SerialConsole.FirstByte.WaitAsync(Timeout);

        vm.Vm.RequestStop("test asked the VM to stop");
        var reason = await vm.Vm.Stopped.WaitAsync(Timeout);

        Assert.Equal(new VmStopReason(VmStopKind.Requested, "test asked the VM to stop"), reason);
        Assert.Equal("S", vm.Vm.SerialConsole.Text);
        AssertNoVmThreadLeft(vm.Vm);
    }

    /// <summary>Stopped completes after the threads were joined; the kernel's task list confirms they are gone.</summary>
    internal static void AssertNoVmThreadLeft(KvmVm vm)
    {
        Assert.Equal(0, vm.LiveThreadCount);
        var deadline = DateTime.UtcNow.AddSeconds(2);
        string[] names;
        do
        {
            names = Directory.GetDirectories("/proc/self/task")
                .Select(t => { try { return File.ReadAllText(Path.Combine(t, "comm")).Trim(); } catch (IOException) { return ""; } })
                .Where(n => n.StartsWith("spinbox-vcpu") || n.StartsWith("spinbox-virtio"))
                .ToArray();
            if (names.Length == 0) return;
            Thread.Sleep(20);
        } while (DateTime.UtcNow < deadline);
        Assert.Fail($"VMM threads still running: {string.Join(", ", names)}");
    }
}
