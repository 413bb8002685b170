using BenchmarkDotNet.Attributes;
using Spinbox.Vmm;

namespace Spinbox.Bench;

/// <summary>
/// Round trip of one port-I/O exit: guest OUT, KVM exit to this process, bus dispatch to the COM1 scratch
/// register, re-entry. The guest loops on OUT; each operation is one exit counted by the VMM.
/// </summary>
public class PortIoExitBenchmark
{
    public const int ExitsPerInvocation = 20_000;
    private KvmVm? _vm;

    [GlobalSetup]
    public void Setup()
    {
        _vm = new KvmVm(new KvmVmConfig { FlatImage = BenchGuests.PortIoLoop, MemoryBytes = 2UL << 20 });
        _vm.Start();
    }

    [Benchmark(Description = "port-I/O exit round trip", OperationsPerInvoke = ExitsPerInvocation)]
    public long PortIoExit() => WaitForExits(_vm!, ExitsPerInvocation);

    /// <summary>Sleeps (not spins: the vCPU needs the core) until the guest made <paramref name="count"/> more exits.</summary>
    public static long WaitForExits(KvmVm vm, int count)
    {
        long target = vm.IoExits + count;
        while (vm.IoExits < target)
        {
            if (vm.Stopped.IsCompleted) throw new InvalidOperationException($"guest stopped: {vm.Stopped.Result}");
            Thread.Sleep(1);
        }
        return vm.IoExits;
    }

    [GlobalCleanup]
    public void Cleanup() => _vm?.Dispose();
}
