using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spinbox.Virtio.Memory;
using Spinbox.Vmm.Boot;
using Spinbox.Vmm.Devices;
using Spinbox.Vmm.Kvm;
using Spinbox.Vmm.Memory;
using Spinbox.Vmm.VirtioMmio;

namespace Spinbox.Vmm;

/// <summary>
/// A virtual machine on /dev/kvm, run by this process: guest RAM, one thread per vCPU, the PC devices
/// (COM1 serial, i8042 reset) and virtio-mmio devices. <see cref="Start"/> builds and boots it;
/// <see cref="Stopped"/> completes, with the reason, once every VMM thread of the VM has ended.
/// </summary>
public sealed class KvmVm : IVcpuHost, IDisposable
{
    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(10);

    private readonly KvmVmConfig _config;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource<VmStopReason> _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Vcpu> _vcpus = [];
    private readonly List<VirtioMmioTransport> _transports = [];
    private readonly List<EventFd> _eventFds = [];
    private readonly UnmappedAccessLog _unmapped;
    private readonly object _lifecycle = new();
    private KvmSystem? _system;
    private KvmVmFd? _vm;
    private GuestRam? _ram;
    private VmStopReason? _stopReason;
    private volatile bool _stopRequested;
    private int _runningVcpus;
    private bool _started, _running, _disposed;

    public KvmVm(KvmVmConfig config)
    {
        config.Validate();
        _config = config;
        _logger = config.Logger ?? NullLogger.Instance;
        _unmapped = new UnmappedAccessLog(_logger);
        SerialConsole = new ConsoleLog(config.ConsoleLogPath);
    }

    /// <summary>Completes when the VM has stopped and its vCPU and device threads have ended.</summary>
    public Task<VmStopReason> Stopped => _stopped.Task;

    /// <summary>The guest's COM1 output (also appended to the console log file).</summary>
    public ConsoleLog SerialConsole { get; }

    /// <summary>What the guest was told (Linux boots only; null before Start and for flat images).</summary>
    public LinuxBootInfo? BootInfo { get; private set; }

    /// <summary>Guest RAM, bounds-checked by guest-physical address (valid after Start).</summary>
    public IGuestMemory Memory => _ram?.Memory ?? throw new InvalidOperationException("the VM has not been started");

    /// <summary>Guest accesses to addresses no device claims (logged once per address, then counted).</summary>
    public long UnmappedAccesses => _unmapped.Total;

    /// <summary>Port-I/O exits handled so far, all vCPUs together.</summary>
    public long IoExits => _vcpus.Sum(v => v.IoExits);

    /// <summary>MMIO exits handled so far, all vCPUs together.</summary>
    public long MmioExits => _vcpus.Sum(v => v.MmioExits);

    /// <summary>Queue kicks that arrived as MMIO exits rather than through KVM_IOEVENTFD.</summary>
    public long QueueNotifyExits => _transports.Sum(t => t.NotifyExits);

    /// <summary>vCPU and device threads of this VM still running.</summary>
    public int LiveThreadCount => _vcpus.Count(v => v.IsAlive) + _transports.Count(t => t.WorkerAlive);

    bool IVcpuHost.StopRequested => _stopRequested;

    /// <summary>Builds the VM and starts its vCPUs. Throws BootImageException, KvmException or ArgumentException naming the problem.</summary>
    public void Start()
    {
        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started) throw new InvalidOperationException("the VM was already started");
            _started = true;
            try
            {
                Build();
            }
            catch
            {
                ReleaseResources();
                throw;
            }
            _runningVcpus = _vcpus.Count;
            _running = true;
            foreach (var t in _transports) t.Start();
            foreach (var v in _vcpus) v.Start();
        }
    }

    private void Build()
    {
        VcpuKicker.EnsureInstalled();
        _system = KvmSystem.Open(_config.KvmDevicePath);
        bool irqchip = _config.UsesIrqchip;
        _system.RequireExtensions(
            irqchip
                ? [KvmCapability.UserMemory, KvmCapability.SetTssAddr, KvmCapability.ExtCpuid, KvmCapability.ImmediateExit,
                   KvmCapability.Ioeventfd, KvmCapability.Irqchip, KvmCapability.Irqfd, KvmCapability.Pit2]
                : [KvmCapability.UserMemory, KvmCapability.SetTssAddr, KvmCapability.ExtCpuid, KvmCapability.ImmediateExit,
                   KvmCapability.Ioeventfd]);
        int maxVcpus = Math.Max(_system.CheckExtension(KvmCapability.MaxVcpus), _system.CheckExtension(KvmCapability.NrVcpus));
        if (_config.Vcpus > maxVcpus)
            throw new ArgumentException($"KvmVmConfig.Vcpus is {_config.Vcpus}; this host's KVM allows {maxVcpus}");

        _vm = _system.CreateVm();
        _vm.SetTssAddress(GuestAddressMap.KvmTss);
        if (irqchip)
        {
            _vm.CreateIrqchip();
            _vm.CreatePit2();
        }
        _ram = GuestRam.Create("spinbox-guest-ram", _config.MemoryBytes);
        _ram.RegisterWith(_vm);

        BootPlan plan;
        if (_config.FlatImage is { } image)
        {
            plan = image.Load(_ram.Memory);
            _logger.LogInformation("kvm VM: flat image of {Bytes} bytes at 0x{Address:x}, {Mode}, {Vcpus} vCPU(s), {Memory} MiB",
                image.Code.Length, image.LoadAddress, image.Mode, _config.Vcpus, _config.MemoryBytes >> 20);
        }
        else
        {
            string cmdline = WithDeviceEntries(_config.Cmdline, _config.Devices.Count);
            (plan, var info) = LinuxBootLoader.Load(_ram, _config.KernelPath!, _config.InitrdPath, cmdline, _config.Vcpus);
            BootInfo = info;
            _logger.LogInformation("kvm VM: {Format} {Kernel}, entry 0x{Entry:x}, {Vcpus} vCPU(s), {Memory} MiB, cmdline \"{Cmdline}\"",
                info.KernelFormat, _config.KernelPath, plan.Entry, _config.Vcpus, _config.MemoryBytes >> 20, cmdline);
        }

        var io = new Bus("port I/O");
        var mmio = new Bus("MMIO");
        AttachPcDevices(io, irqchip);
        AttachVirtioDevices(mmio, irqchip);

        var cpuid = _system.GetSupportedCpuid();
        for (int i = 0; i < _config.Vcpus; i++)
        {
            var fd = _vm.CreateVcpu(i);
            _vcpus.Add(new Vcpu(fd, io, mmio, _unmapped, this, _logger));
            VcpuSetup.Configure(fd, VcpuSetup.CpuidFor(cpuid, i, _config.Vcpus), plan, irqchip, _logger);
        }
    }

    /// <summary>Appends "virtio_mmio.device=4K@0x...:irq" for each device (Linux finds them this way).</summary>
    public static string WithDeviceEntries(string cmdline, int deviceCount)
    {
        var sb = new StringBuilder(cmdline);
        for (int i = 0; i < deviceCount; i++)
        {
            if (sb.Length > 0) sb.Append(' ');
            sb.Append($"virtio_mmio.device=4K@0x{DeviceWindow(i):x}:{GuestAddressMap.FirstVirtioIrq + (uint)i}");
        }
        return sb.ToString();
    }

    public static ulong DeviceWindow(int index) => GuestAddressMap.VirtioMmioBase + (ulong)index * VirtioMmioRegisters.WindowSize;

    private void AttachPcDevices(Bus io, bool irqchip)
    {
        var serial = new Serial8250(SerialConsole, InterruptLine(Serial8250.Com1Irq, irqchip));
        io.Register(Serial8250.Com1Base, Serial8250.PortCount, serial);
        var i8042 = new I8042Controller(() => Stop(new VmStopReason(VmStopKind.GuestReset,
            "the guest requested a reset through the i8042 controller (command 0xfe on port 0x64)")));
        io.Register(I8042Controller.DataPortAddress, 1, i8042.DataPort);
        io.Register(I8042Controller.CommandPortAddress, 1, i8042.CommandPort);
    }

    private void AttachVirtioDevices(Bus mmio, bool irqchip)
    {
        for (int i = 0; i < _config.Devices.Count; i++)
        {
            var device = _config.Devices[i];
            ulong window = DeviceWindow(i);
            uint irq = GuestAddressMap.FirstVirtioIrq + (uint)i;
            var transport = new VirtioMmioTransport($"virtio{i}", device, _ram!.Memory, InterruptLine(irq, irqchip), _logger);
            _transports.Add(transport);
            mmio.Register(window, VirtioMmioRegisters.WindowSize, transport);
            for (int q = 0; q < transport.QueueKicks.Count; q++)
                _vm!.RegisterIoeventfd(transport.QueueKicks[q], window + VirtioMmioRegisters.QueueNotify, 4, (ulong)q, portIo: false);
            _logger.LogInformation("virtio{Index}: device type {Type} at 0x{Window:x}, irq {Irq}", i, device.DeviceType, window, irq);
        }
    }

    private IInterruptLine InterruptLine(uint gsi, bool irqchip)
    {
        if (!irqchip) return NoInterruptLine.Instance;
        var eventFd = new EventFd();
        _eventFds.Add(eventFd);
        _vm!.RegisterIrqfd(eventFd, gsi);
        return new IrqfdLine(eventFd);
    }

    /// <summary>Asks the VM to stop; <see cref="Stopped"/> completes with this reason once the threads end.</summary>
    public void RequestStop(string why = "stop requested by the host")
    {
        bool running;
        lock (_lifecycle) running = _running;
        var reason = new VmStopReason(VmStopKind.Requested, why);
        if (!running)
        {
            _stopped.TrySetResult(reason);
            return;
        }
        Stop(reason);
    }

    private void Stop(VmStopReason reason)
    {
        Interlocked.CompareExchange(ref _stopReason, reason, null);
        _stopRequested = true;
        foreach (var v in _vcpus) v.Kick();
    }

    void IVcpuHost.OnVcpuExited(Vcpu vcpu, VmStopReason? reason)
    {
        if (reason is not null) Stop(reason);
        if (Interlocked.Decrement(ref _runningVcpus) == 0) Task.Run(Finish);
    }

    /// <summary>Runs once every vCPU thread has left its loop: joins them, stops device threads, reports.</summary>
    private void Finish()
    {
        foreach (var v in _vcpus) v.Join();
        foreach (var t in _transports) t.Dispose();
        SerialConsole.Flush();
        var reason = _stopReason ?? new VmStopReason(VmStopKind.AllVcpusHalted, $"all {_vcpus.Count} vCPU(s) executed HLT");
        _logger.LogInformation("kvm VM stopped: {Kind}: {Detail}", reason.Kind, reason.Detail);
        if (_unmapped.Total > 0)
            _logger.LogInformation("kvm VM: {Count} guest access(es) to unmapped addresses were ignored", _unmapped.Total);
        _stopped.TrySetResult(reason);
    }

    public void Dispose()
    {
        lock (_lifecycle)
        {
            if (_disposed) return;
            _disposed = true;
        }
        RequestStop("the VM was disposed");
        if (_running && !Stopped.Wait(DisposeTimeout))
        {
            // A vCPU that does not leave KVM_RUN still uses the run area and guest RAM: leak them rather than unmap.
            _logger.LogError("kvm VM: vCPU threads did not stop within {Timeout}; resources are leaked", DisposeTimeout);
            return;
        }
        ReleaseResources();
    }

    private void ReleaseResources()
    {
        foreach (var t in _transports) t.Dispose();
        foreach (var v in _vcpus) v.Dispose();
        _vm?.Dispose();
        _system?.Dispose();
        _ram?.Dispose();
        foreach (var e in _eventFds) e.Dispose();
        SerialConsole.Dispose();
    }
}
