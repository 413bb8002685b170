using Microsoft.Extensions.Logging;
using Spinbox.Vmm.Devices;
using Spinbox.Vmm.Kvm;

namespace Spinbox.Vmm;

/// <summary>
/// One vCPU and the thread that runs it: KVM_RUN in a loop, each exit dispatched to the port-I/O or MMIO
/// bus. The thread ends on HLT (no irqchip), on a VM-stopping exit, or when the VM is asked to stop.
/// </summary>
internal sealed class Vcpu : IDisposable
{
    private readonly KvmVcpuFd _fd;
    private readonly Bus _io, _mmio;
    private readonly UnmappedAccessLog _unmapped;
    private readonly IVcpuHost _host;
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private volatile int _threadId;
    private long _ioExits, _mmioExits;
    private int _deviceErrors;
    private const int MaxDeviceErrorsLogged = 20;

    public Vcpu(KvmVcpuFd fd, Bus io, Bus mmio, UnmappedAccessLog unmapped, IVcpuHost host, ILogger logger)
    {
        _fd = fd;
        _io = io;
        _mmio = mmio;
        _unmapped = unmapped;
        _host = host;
        _logger = logger;
        _thread = new Thread(Loop, 256 * 1024) { Name = ThreadName(fd.Id), IsBackground = true };
    }

    public static string ThreadName(int id) => $"spinbox-vcpu{id}";

    public int Id => _fd.Id;
    public long IoExits => Volatile.Read(ref _ioExits);
    public long MmioExits => Volatile.Read(ref _mmioExits);
    public bool IsAlive => _thread.IsAlive;

    public void Start() => _thread.Start();

    public void Join() => _thread.Join();

    /// <summary>Makes a KVM_RUN in progress (or the next one) return at once so the thread sees the stop.</summary>
    public void Kick()
    {
        _fd.RunArea.ImmediateExit = true;
        int tid = _threadId;
        if (tid != 0 && _thread.IsAlive) VcpuKicker.Kick(tid);
    }

    private void Loop()
    {
        _threadId = VcpuKicker.CurrentThreadId();
        VmStopReason? reason = null;
        try
        {
            reason = RunUntilExit();
        }
        catch (Exception e)
        {
            reason = new VmStopReason(VmStopKind.Error, $"vCPU {Id}: {e.Message}");
            _logger.LogError(e, "vCPU {Id} failed", Id);
        }
        finally
        {
            _host.OnVcpuExited(this, reason);
        }
    }

    /// <summary>Returns the reason to stop the VM, or null when only this vCPU is done (HLT or stop request).</summary>
    private VmStopReason? RunUntilExit()
    {
        var run = _fd.RunArea;
        while (!_host.StopRequested)
        {
            if (!_fd.Run()) continue; // EINTR: a kick, or the runtime's own signals; re-check the stop flag
            switch (run.ExitReason)
            {
                case KvmExitReason.Io:
                    HandleIo(run);
                    break;
                case KvmExitReason.Mmio:
                    HandleMmio(run);
                    break;
                case KvmExitReason.Intr:
                    break;
                case KvmExitReason.Hlt:
                    _logger.LogDebug("vCPU {Id} halted at rip 0x{Rip:x}", Id, _fd.GetRegs().Rip);
                    return null;
                case KvmExitReason.Shutdown:
                    return new VmStopReason(VmStopKind.TripleFault, $"vCPU {Id} triple-faulted (KVM_EXIT_SHUTDOWN) at rip 0x{_fd.GetRegs().Rip:x}");
                case KvmExitReason.FailEntry:
                    return new VmStopReason(VmStopKind.Error, $"vCPU {Id}: KVM_EXIT_FAIL_ENTRY, hardware reason 0x{run.FailEntryReason:x}");
                case KvmExitReason.InternalError:
                    return new VmStopReason(VmStopKind.Error,
                        $"vCPU {Id}: KVM_EXIT_INTERNAL_ERROR suberror {run.InternalSuberror} at rip 0x{_fd.GetRegs().Rip:x} (data {string.Join(' ', run.InternalData.Select(d => $"0x{d:x}"))})");
                case KvmExitReason.SystemEvent:
                    return new VmStopReason(VmStopKind.GuestReset, $"vCPU {Id}: KVM_EXIT_SYSTEM_EVENT type {run.SystemEventType}");
                default:
                    return new VmStopReason(VmStopKind.Error, $"vCPU {Id}: unexpected exit {run.ExitReason} ({(uint)run.ExitReason})");
            }
        }
        _logger.LogDebug("vCPU {Id} left at rip 0x{Rip:x} on the stop request", Id, _fd.GetRegs().Rip);
        return null;
    }

    private void HandleIo(KvmRunArea run)
    {
        Volatile.Write(ref _ioExits, _ioExits + 1); // only this thread writes it
        ushort port = run.IoPort;
        int size = run.IoSize;
        bool isOut = run.IoIsOut;
        var data = run.IoData;
        for (int i = 0; i + size <= data.Length; i += size)
        {
            var item = data.Slice(i, size);
            bool mapped = Dispatch(_io, port, item, isOut);
            if (!mapped) Unmapped(_io.Name, port, item, isOut);
        }
    }

    private void HandleMmio(KvmRunArea run)
    {
        Volatile.Write(ref _mmioExits, _mmioExits + 1);
        ulong address = run.MmioAddress;
        var data = run.MmioData;
        bool isWrite = run.MmioIsWrite;
        bool mapped = Dispatch(_mmio, address, data, isWrite);
        if (!mapped) Unmapped(_mmio.Name, address, data, isWrite);
    }

    /// <summary>A device that fails on an access is a VMM bug, not the guest's: log it, let the guest go on.</summary>
    private bool Dispatch(Bus bus, ulong address, Span<byte> data, bool isWrite)
    {
        try
        {
            return isWrite ? bus.TryWrite(address, data) : bus.TryRead(address, data);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (Interlocked.Increment(ref _deviceErrors) <= MaxDeviceErrorsLogged)
                _logger.LogError(e, "vCPU {Id}: device at {Bus} address 0x{Address:x} failed on a {Size}-byte {Access}; ignored",
                    Id, bus.Name, address, data.Length, isWrite ? "write" : "read");
            if (!isWrite) data.Fill(0xff);
            return true;
        }
    }

    private void Unmapped(string bus, ulong address, Span<byte> data, bool isWrite)
    {
        ulong value = 0;
        for (int i = data.Length - 1; i >= 0; i--) value = (value << 8) | data[i];
        _unmapped.Record(bus, address, data.Length, isWrite, value);
        if (!isWrite) data.Fill(0xff);
    }

    public void Dispose() => _fd.Dispose();
}

/// <summary>What a vCPU thread needs from its VM.</summary>
internal interface IVcpuHost
{
    bool StopRequested { get; }

    /// <summary>Called once on the vCPU's thread as it ends; a non-null reason stops the whole VM.</summary>
    void OnVcpuExited(Vcpu vcpu, VmStopReason? reason);
}
