using System.Text;
using Spinbox.Vmm.Boot;

namespace Spinbox.Vmm.Tests.Kvm;

public sealed class SerialGuestTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Real-mode guest at 0x1000: writes the NUL-terminated string at msg to COM1, then HLT.</summary>
    public static string PrintStringGuest(string message) => $$"""
        .code16
        .globl _start
        _start:
            mov $msg, %si
            mov $0x3f8, %dx
        next:
            lodsb
            test %al, %al
            jz done
            outb %al, %dx
            jmp next
        done:
            hlt
        msg:
            .asciz "{{message}}"
        """;

    [KvmFact]
    public void Guest_output_on_the_serial_port_is_exactly_the_vm_log()
    {
        const string message = "hello from a spinbox test guest";
        var code = TestGuestBuilder.Assemble(PrintStringGuest(message), 0x1000);

        using var vm = new TestVm(new FlatImage(code, 0x1000, CpuMode.Real16));
        var reason = vm.RunToStop(Timeout);

        Assert.Equal(VmStopKind.AllVcpusHalted, reason.Kind);
        Assert.Equal(message, Encoding.ASCII.GetString(vm.ConsoleLogBytes()));
        Assert.Contains(vm.Logger.Lines, l => l.Contains("kvm VM stopped: AllVcpusHalted"));
    }
}
