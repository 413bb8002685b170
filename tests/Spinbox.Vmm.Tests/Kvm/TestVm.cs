using Spinbox.Virtio;
using Spinbox.Vmm.Boot;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>Runs a freestanding test guest on the kvm backend and returns what it left behind.</summary>
public sealed class TestVm : IDisposable
{
    private readonly TempDir _dir = new();

    public TestVm(FlatImage image, int vcpus = 1, ulong memoryBytes = 4UL << 20, IReadOnlyList<IVirtioDevice>? devices = null, TestLogger? logger = null)
    {
        Logger = logger ?? new TestLogger();
        ConsoleLogPath = _dir.File("console.log");
        Vm = new KvmVm(new KvmVmConfig
        {
            FlatImage = image,
            Vcpus = vcpus,
            MemoryBytes = memoryBytes,
            ConsoleLogPath = ConsoleLogPath,
            Devices = devices ?? [],
            Logger = Logger,
        });
    }

    public KvmVm Vm { get; }
    public TestLogger Logger { get; }
    public string ConsoleLogPath { get; }

    /// <summary>Starts the guest and waits for it to stop on its own; fails the test after <paramref name="timeout"/>.</summary>
    public VmStopReason RunToStop(TimeSpan timeout)
    {
        Vm.Start();
        if (!Vm.Stopped.Wait(timeout))
        {
            Vm.RequestStop("test timeout");
            Vm.Stopped.Wait(TimeSpan.FromSeconds(5));
            Assert.Fail($"guest did not stop within {timeout}; serial so far: \"{Vm.SerialConsole.Text}\"\n{Logger.Text}");
        }
        return Vm.Stopped.Result;
    }

    public byte[] ConsoleLogBytes() => File.ReadAllBytes(ConsoleLogPath);

    public void Dispose()
    {
        Vm.Dispose();
        _dir.Dispose();
    }
}
