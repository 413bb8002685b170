namespace Spinbox.Vmm.Devices;

/// <summary>
/// A 16550A-compatible UART (the PC's COM1 at 0x3f8, IRQ 4). Transmitted bytes go to the console log;
/// the transmit-empty interrupt is raised so an interrupt-driven Linux driver keeps sending.
/// </summary>
public sealed class Serial8250(ConsoleLog output, IInterruptLine interrupt) : IBusDevice
{
    public const ushort Com1Base = 0x3f8;
    public const int Com1Irq = 4;
    public const ulong PortCount = 8;

    // Register offsets.
    private const int Data = 0, InterruptEnable = 1, InterruptIdent = 2, LineControl = 3;
    private const int ModemControl = 4, LineStatus = 5, ModemStatus = 6, Scratch = 7;

    private const byte IerReceivedData = 0x01, IerTransmitEmpty = 0x02;
    private const byte IirNoInterrupt = 0x01, IirTransmitEmpty = 0x02, IirReceivedData = 0x04, IirFifoEnabled = 0xc0;
    private const byte LcrDivisorLatch = 0x80;
    private const byte LsrDataReady = 0x01, LsrTransmitEmpty = 0x20, LsrTransmitterIdle = 0x40;
    private const byte McrLoopback = 0x10;
    private const byte MsrCts = 0x10, MsrDsr = 0x20, MsrRi = 0x40, MsrDcd = 0x80;
    private const int MaxInput = 64;

    private readonly object _gate = new();
    private readonly Queue<byte> _input = new();
    private byte _ier, _lcr = 0x03, _mcr = 0x08, _scratch, _divisorLow = 0x0c, _divisorHigh;
    private bool _fifoEnabled, _transmitEmptyPending;

    public void Read(ulong offset, Span<byte> data)
    {
        data.Fill(0);
        bool raise = false;
        lock (_gate)
        {
            data[0] = (int)offset switch
            {
                Data when DivisorLatch => _divisorLow,
                Data => ReceiveByte(out raise),
                InterruptEnable when DivisorLatch => _divisorHigh,
                InterruptEnable => _ier,
                InterruptIdent => ReadInterruptIdent(),
                LineControl => _lcr,
                ModemControl => _mcr,
                LineStatus => (byte)(LsrTransmitEmpty | LsrTransmitterIdle | (_input.Count > 0 ? LsrDataReady : 0)),
                ModemStatus => ReadModemStatus(),
                Scratch => _scratch,
                _ => 0xff,
            };
        }
        if (raise) interrupt.Raise();
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        byte value = data[0];
        byte? transmitted = null;
        bool raise = false;
        lock (_gate)
        {
            switch ((int)offset)
            {
                case Data when DivisorLatch: _divisorLow = value; break;
                case Data:
                    if ((_mcr & McrLoopback) != 0) raise = Receive(value);
                    else transmitted = value;
                    raise |= ArmTransmitEmpty();
                    break;
                case InterruptEnable when DivisorLatch: _divisorHigh = value; break;
                case InterruptEnable:
                    bool newlyEnabled = (value & IerTransmitEmpty) != 0 && (_ier & IerTransmitEmpty) == 0;
                    _ier = (byte)(value & 0x0f);
                    if (newlyEnabled) raise = ArmTransmitEmpty();
                    if ((_ier & IerReceivedData) != 0 && _input.Count > 0) raise = true;
                    break;
                case InterruptIdent: // FIFO control
                    _fifoEnabled = (value & 0x01) != 0;
                    if ((value & 0x02) != 0) _input.Clear();
                    break;
                case LineControl: _lcr = value; break;
                case ModemControl: _mcr = (byte)(value & 0x1f); break;
                case Scratch: _scratch = value; break;
            }
        }
        if (transmitted is byte b) output.Write(b);
        if (raise) interrupt.Raise();
    }

    /// <summary>Host-to-guest input (console stdin); bytes beyond the FIFO depth are dropped.</summary>
    public void Enqueue(ReadOnlySpan<byte> bytes)
    {
        bool raise = false;
        lock (_gate)
            foreach (byte b in bytes) raise |= Receive(b);
        if (raise) interrupt.Raise();
    }

    private bool DivisorLatch => (_lcr & LcrDivisorLatch) != 0;

    private bool Receive(byte value)
    {
        if (_input.Count >= MaxInput) return false;
        _input.Enqueue(value);
        return (_ier & IerReceivedData) != 0;
    }

    private byte ReceiveByte(out bool raiseAgain)
    {
        byte value = _input.Count > 0 ? _input.Dequeue() : (byte)0;
        raiseAgain = _input.Count > 0 && (_ier & IerReceivedData) != 0;
        return value;
    }

    private bool ArmTransmitEmpty()
    {
        if ((_ier & IerTransmitEmpty) == 0) return false;
        _transmitEmptyPending = true;
        return true;
    }

    private byte ReadInterruptIdent()
    {
        byte fifo = _fifoEnabled ? IirFifoEnabled : (byte)0;
        if ((_ier & IerReceivedData) != 0 && _input.Count > 0) return (byte)(IirReceivedData | fifo);
        if (_transmitEmptyPending)
        {
            _transmitEmptyPending = false; // reading IIR acknowledges THRE
            return (byte)(IirTransmitEmpty | fifo);
        }
        return (byte)(IirNoInterrupt | fifo);
    }

    private byte ReadModemStatus()
    {
        if ((_mcr & McrLoopback) == 0) return MsrDcd | MsrDsr | MsrCts;
        // Loopback wires the modem-control outputs back to the status inputs.
        byte msr = 0;
        if ((_mcr & 0x01) != 0) msr |= MsrDsr;
        if ((_mcr & 0x02) != 0) msr |= MsrCts;
        if ((_mcr & 0x04) != 0) msr |= MsrRi;
        if ((_mcr & 0x08) != 0) msr |= MsrDcd;
        return msr;
    }
}
