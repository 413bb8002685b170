using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Spinbox.Virtio;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;
using Spinbox.Vmm.Devices;
using Spinbox.Vmm.Kvm;
using static Spinbox.Vmm.VirtioMmio.VirtioMmioRegisters;

namespace Spinbox.Vmm.VirtioMmio;

/// <summary>
/// One virtio-mmio (version 2) device window: the register file a driver uses to negotiate features and
/// place queues, then the device model (any IVirtioDevice) runs the queues. Queue kicks arrive on the
/// kick eventfds (KVM_IOEVENTFD), are handled on this transport's thread; interrupts leave through the
/// device's interrupt line (KVM_IRQFD). A device model error never reaches the vCPU: the device is
/// marked DEVICE_NEEDS_RESET and the VM keeps running.
/// </summary>
public sealed class VirtioMmioTransport : IBusDevice, IDisposable
{
    private readonly IVirtioDevice _device;
    private readonly IGuestMemory _memory;
    private readonly ILogger _logger;
    private readonly VirtioMmioInterrupt _interrupt;
    private readonly VirtioMmioQueueState[] _queues;
    private readonly EventFd[] _kicks;
    private readonly QueueKickWorker _worker;
    private readonly object _gate = new();        // register state
    private readonly object _processing = new();  // device activation, reset and queue processing

    private uint _status, _deviceFeaturesSel, _driverFeaturesSel, _queueSel;
    private ulong _driverFeatures;
    private bool _activated, _broken;
    private long _notifyExits;

    public VirtioMmioTransport(string name, IVirtioDevice device, IGuestMemory memory, IInterruptLine interruptLine, ILogger logger)
    {
        Name = name;
        _device = device;
        _memory = memory;
        _logger = logger;
        _interrupt = new VirtioMmioInterrupt(interruptLine);
        if (device.QueueCount <= 0) throw new ArgumentException($"{name}: device has no queues", nameof(device));
        _queues = Enumerable.Range(0, device.QueueCount).Select(_ => new VirtioMmioQueueState(device.MaxQueueSize)).ToArray();
        _kicks = Enumerable.Range(0, device.QueueCount).Select(_ => new EventFd()).ToArray();
        _worker = new QueueKickWorker($"spinbox-{name}", _kicks, OnKick, logger);
    }

    public string Name { get; }

    /// <summary>One eventfd per queue; register each with KVM_IOEVENTFD at QueueNotify, datamatch = index.</summary>
    public IReadOnlyList<EventFd> QueueKicks => _kicks;

    public bool IsActivated { get { lock (_gate) return _activated; } }

    public bool WorkerAlive => _worker.IsAlive;

    /// <summary>QueueNotify writes that reached this register file (0 when KVM_IOEVENTFD handles every kick).</summary>
    public long NotifyExits => Interlocked.Read(ref _notifyExits);

    public void Start() => _worker.Start();

    public void Read(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (offset >= Config)
        {
            _device.ReadConfig((uint)(offset - Config), data);
            return;
        }
        if (data.Length != 4 || offset % 4 != 0)
        {
            _logger.LogWarning("{Name}: {Size}-byte read of register 0x{Offset:x} ignored (registers are 32-bit)", Name, data.Length, offset);
            return;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(data, ReadRegister((uint)offset));
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset >= Config)
        {
            _device.WriteConfig((uint)(offset - Config), data);
            return;
        }
        if (data.Length != 4 || offset % 4 != 0)
        {
            _logger.LogWarning("{Name}: {Size}-byte write of register 0x{Offset:x} ignored (registers are 32-bit)", Name, data.Length, offset);
            return;
        }
        WriteRegister((uint)offset, BinaryPrimitives.ReadUInt32LittleEndian(data));
    }

    private uint ReadRegister(uint offset)
    {
        lock (_gate)
        {
            var q = SelectedQueue;
            return offset switch
            {
                MagicValue => Magic,
                VirtioMmioRegisters.Version => TransportVersion,
                DeviceId => _device.DeviceType,
                VendorId => SpinboxVendorId,
                DeviceFeatures => _deviceFeaturesSel switch
                {
                    0 => (uint)_device.DeviceFeatures,
                    1 => (uint)(_device.DeviceFeatures >> 32),
                    _ => 0,
                },
                QueueNumMax => q?.MaxSize ?? 0,
                QueueReady => q is { Ready: true } ? 1u : 0u,
                InterruptStatus => _interrupt.Status,
                Status => _status,
                ShmLenLow or ShmLenHigh => uint.MaxValue, // no shared memory regions
                ShmBaseLow or ShmBaseHigh => uint.MaxValue,
                ConfigGeneration => 0,
                _ => 0,
            };
        }
    }

    private void WriteRegister(uint offset, uint value)
    {
        if (offset == Status)
        {
            WriteStatus(value);
            return;
        }
        if (offset == QueueNotify)
        {
            // Only reached when no ioeventfd matched: hand the kick to the transport thread the same way.
            Interlocked.Increment(ref _notifyExits);
            if (value < _kicks.Length) _kicks[value].Signal();
            return;
        }
        lock (_gate)
        {
            var q = SelectedQueue;
            bool queueWritable = q is not null && !q.Ready && !_activated;
            switch (offset)
            {
                case DeviceFeaturesSel: _deviceFeaturesSel = value; break;
                case DriverFeaturesSel: _driverFeaturesSel = value; break;
                case DriverFeatures when (_status & StatusFeaturesOk) == 0:
                    if (_driverFeaturesSel == 0) _driverFeatures = (_driverFeatures & 0xffffffff00000000UL) | value;
                    else if (_driverFeaturesSel == 1) _driverFeatures = (_driverFeatures & 0xffffffffUL) | ((ulong)value << 32);
                    break;
                case QueueSel: _queueSel = value; break;
                case QueueNum when queueWritable: q!.Size = value; break;
                case QueueReady when q is not null && !_activated: q.Ready = value == 1; break;
                case QueueDescLow when queueWritable: q!.DescriptorTable = VirtioMmioQueueState.SetLow(q.DescriptorTable, value); break;
                case QueueDescHigh when queueWritable: q!.DescriptorTable = VirtioMmioQueueState.SetHigh(q.DescriptorTable, value); break;
                case QueueDriverLow when queueWritable: q!.DriverArea = VirtioMmioQueueState.SetLow(q.DriverArea, value); break;
                case QueueDriverHigh when queueWritable: q!.DriverArea = VirtioMmioQueueState.SetHigh(q.DriverArea, value); break;
                case QueueDeviceLow when queueWritable: q!.DeviceArea = VirtioMmioQueueState.SetLow(q.DeviceArea, value); break;
                case QueueDeviceHigh when queueWritable: q!.DeviceArea = VirtioMmioQueueState.SetHigh(q.DeviceArea, value); break;
                case InterruptAck: _interrupt.Acknowledge(value); break;
                case ShmSel: break;
                default:
                    _logger.LogDebug("{Name}: write 0x{Value:x} to register 0x{Offset:x} ignored", Name, value, offset);
                    break;
            }
        }
    }

    private VirtioMmioQueueState? SelectedQueue => _queueSel < _queues.Length ? _queues[_queueSel] : null;

    private void WriteStatus(uint value)
    {
        if (value == 0)
        {
            Reset();
            return;
        }
        bool activate = false;
        lock (_processing)
        {
            lock (_gate)
            {
                if ((value & StatusFeaturesOk) != 0 && (_status & StatusFeaturesOk) == 0 && !FeaturesAcceptable())
                    value &= ~StatusFeaturesOk; // the driver reads it back and gives up
                activate = (value & StatusDriverOk) != 0 && (_status & StatusDriverOk) == 0
                           && (value & StatusFeaturesOk) != 0 && !_activated;
                _status = value | (_status & StatusDeviceNeedsReset);
            }
            if (activate) Activate();
        }
    }

    private bool FeaturesAcceptable()
    {
        ulong offered = _device.DeviceFeatures;
        if ((_driverFeatures & ~offered) != 0)
        {
            _logger.LogWarning("{Name}: driver accepted features 0x{Features:x} that were not offered (0x{Offered:x})", Name, _driverFeatures, offered);
            return false;
        }
        if ((_driverFeatures & FeatureVersion1) == 0)
        {
            _logger.LogWarning("{Name}: driver did not accept VIRTIO_F_VERSION_1; legacy drivers are not supported", Name);
            return false;
        }
        return true;
    }

    /// <summary>Called under _processing with DRIVER_OK just set.</summary>
    private void Activate()
    {
        ulong features;
        VirtioMmioQueueState[] states;
        lock (_gate)
        {
            features = _driverFeatures;
            states = _queues;
        }
        try
        {
            bool eventIndex = (features & FeatureEventIndex) != 0;
            var queues = new List<Virtqueue>(states.Length);
            for (int i = 0; i < states.Length; i++)
            {
                var s = states[i];
                if (!s.Ready) throw new VirtqueueException($"queue {i} was not made ready before DRIVER_OK");
                if (s.Size > s.MaxSize) throw new VirtqueueException($"queue {i} size {s.Size} exceeds the maximum {s.MaxSize}");
                queues.Add(new Virtqueue(_memory, (ushort)s.Size, s.DescriptorTable, s.DriverArea, s.DeviceArea, eventIndex));
            }
            _interrupt.SetQueues(queues);
            _device.Activate(_memory, features, queues, _interrupt);
            lock (_gate) _activated = true;
            _logger.LogInformation("{Name}: device type {Type} activated with features 0x{Features:x}", Name, _device.DeviceType, features);
        }
        catch (Exception e) when (e is VirtqueueException or GuestMemoryException or ArgumentException or InvalidOperationException)
        {
            MarkBroken($"activation failed: {e.Message}");
            return;
        }
        // Buffers the driver queued before DRIVER_OK are picked up now.
        foreach (var kick in _kicks) kick.Signal();
    }

    private void OnKick(int queueIndex)
    {
        lock (_processing)
        {
            if (!_activated || _broken) return;
            try
            {
                _device.ProcessQueue(queueIndex);
            }
            catch (Exception e)
            {
                MarkBroken($"queue {queueIndex} failed: {e.Message}");
            }
        }
    }

    private void MarkBroken(string why)
    {
        _logger.LogError("{Name}: {Why}; device needs reset", Name, why);
        lock (_gate)
        {
            _broken = true;
            _status |= StatusDeviceNeedsReset;
        }
        _interrupt.RaiseConfigChange();
    }

    private void Reset()
    {
        lock (_processing)
        {
            bool wasActive;
            lock (_gate)
            {
                wasActive = _activated;
                _activated = _broken = false;
                _status = _deviceFeaturesSel = _driverFeaturesSel = _queueSel = 0;
                _driverFeatures = 0;
                foreach (var q in _queues) q.Reset();
                _interrupt.Clear();
            }
            if (wasActive)
            {
                try { _device.Reset(); }
                catch (Exception e) { _logger.LogError(e, "{Name}: device reset failed", Name); }
            }
        }
    }

    public void Dispose()
    {
        _worker.Dispose();
        foreach (var k in _kicks) k.Dispose();
    }
}
