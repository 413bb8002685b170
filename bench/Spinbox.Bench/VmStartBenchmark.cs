using BenchmarkDotNet.Attributes;
using Spinbox.Vmm;

namespace Spinbox.Bench;

/// <summary>Time from creating a kvm VM to the first byte its guest writes to the serial port.</summary>
public class VmStartBenchmark
{
    private KvmVm? _vm;

    [Benchmark(Description = "VM create -> first serial byte")]
    public async Task CreateToFirstSerialByte()
    {
        _vm = new KvmVm(new KvmVmConfig { FlatImage = BenchGuests.FirstSerialByte, MemoryBytes = 2UL << 20 });
        _vm.Start();
        await _vm.SerialConsole.FirstByte;
    }

    [IterationCleanup]
    public void Cleanup()
    {
        _vm?.Dispose();
        _vm = null;
    }
}
