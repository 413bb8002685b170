using System.Text;
using Spinbox.Vmm.Boot;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>Guest accesses no device claims are logged and ignored; the guest keeps running.</summary>
public sealed class BadGuestAccessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>32-bit guest: writes then reads an unmapped port and MMIO address; prints "ok" when reads gave all ones.</summary>
    private const string UnmappedAccessGuest = """
        .code32
        .globl _start
        _start:
            mov $0x1234, %dx
            mov $0x5a, %al
            outb %al, %dx
            inb %dx, %al
            mov %al, %bl
            movl $0x12345678, 0xe0000000
            movl 0xe0000000, %ecx
            mov $0x3f8, %dx
            cmp $0xff, %bl
            jne bad
            cmp $0xffffffff, %ecx
            jne bad
            mov $'o', %al
            outb %al, %dx
            mov $'k', %al
            outb %al, %dx
            hlt
        bad:
            mov $'!', %al
            outb %al, %dx
            hlt
        """;

    [KvmFact]
    public void Unmapped_port_and_mmio_accesses_are_logged_and_ignored()
    {
        var code = TestGuestBuilder.Assemble(UnmappedAccessGuest, 0x10000);
        using var vm = new TestVm(new FlatImage(code, 0x10000, CpuMode.Protected32));

        var reason = vm.RunToStop(Timeout);

        Assert.Equal(VmStopKind.AllVcpusHalted, reason.Kind);
        Assert.Equal("ok", Encoding.ASCII.GetString(vm.ConsoleLogBytes()));
        Assert.Equal(4, vm.Vm.UnmappedAccesses);
        string log = vm.Logger.Text;
        Assert.Contains("guest wrote 0x5a (1 bytes) to unmapped port I/O address 0x1234; ignored", log);
        Assert.Contains("guest read 1 bytes from unmapped port I/O address 0x1234; returned all ones", log);
        Assert.Contains("guest wrote 0x12345678 (4 bytes) to unmapped MMIO address 0xe0000000; ignored", log);
    }

    /// <summary>32-bit guest with an empty IDT executes int3: #GP, #DF, then a triple fault.</summary>
    private const string TripleFaultGuest = """
        .code32
        .globl _start
        _start:
            mov $0x3f8, %dx
            mov $'T', %al
            outb %al, %dx
            int3
            hlt
        """;

    [KvmFact]
    public void Exception_without_an_idt_stops_the_vm_as_a_triple_fault_or_kvm_error()
    {
        var code = TestGuestBuilder.Assemble(TripleFaultGuest, 0x10000);
        using var vm = new TestVm(new FlatImage(code, 0x10000, CpuMode.Protected32));

        var reason = vm.RunToStop(Timeout);

        Assert.Equal("T", Encoding.ASCII.GetString(vm.ConsoleLogBytes()));
        // A standard KVM reports KVM_EXIT_SHUTDOWN; PVM cannot deliver the exception and reports an internal error.
        var expected = KvmHost.MissingStandardGuestSupport is null ? VmStopKind.TripleFault : VmStopKind.Error;
        Assert.Equal(expected, reason.Kind);
        Assert.Contains("vCPU 0", reason.Detail);
        Assert.Contains(vm.Logger.Lines, l => l.Contains($"kvm VM stopped: {expected}"));
    }

    /// <summary>A device model whose config space read throws (a VMM bug).</summary>
    private sealed class FailingConfigDevice : Spinbox.Virtio.IVirtioDevice
    {
        public uint DeviceType => 4;
        public ulong DeviceFeatures => 1UL << 32;
        public int QueueCount => 1;
        public ushort MaxQueueSize => 8;
        public void ReadConfig(uint offset, Span<byte> data) => throw new InvalidOperationException("config read exploded");
        public void WriteConfig(uint offset, ReadOnlySpan<byte> data) { }
        public void Activate(Spinbox.Virtio.Memory.IGuestMemory memory, ulong ackedFeatures, IReadOnlyList<Spinbox.Virtio.Queue.Virtqueue> queues, Spinbox.Virtio.IInterruptSignal interrupt) { }
        public void ProcessQueue(int queueIndex) { }
        public void Reset() { }
        public void Dispose() { }
    }

    /// <summary>32-bit guest reads the device's config space, then prints "ok" if it read all ones.</summary>
    private const string ConfigReadGuest = """
        .code32
        .globl _start
        _start:
            movl 0xd0000100, %ecx
            mov $0x3f8, %dx
            cmp $0xffffffff, %ecx
            jne bad
            mov $'o', %al
            outb %al, %dx
            mov $'k', %al
            outb %al, %dx
            hlt
        bad:
            mov $'!', %al
            outb %al, %dx
            hlt
        """;

    [KvmFact]
    public void A_device_model_failing_on_an_access_is_logged_and_the_guest_keeps_running()
    {
        var code = TestGuestBuilder.Assemble(ConfigReadGuest, 0x10000);
        using var vm = new TestVm(new FlatImage(code, 0x10000, CpuMode.Protected32), devices: [new FailingConfigDevice()]);

        var reason = vm.RunToStop(Timeout);

        Assert.Equal(VmStopKind.AllVcpusHalted, reason.Kind);
        Assert.Equal("ok", Encoding.ASCII.GetString(vm.ConsoleLogBytes()));
        Assert.Contains(vm.Logger.Lines, l => l.Contains("device at MMIO address 0xd0000100 failed on a 4-byte read; ignored") && l.Contains("config read exploded"));
    }
}
