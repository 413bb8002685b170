namespace Spinbox.Vmm.Devices;

/// <summary>
/// Just enough of the PS/2 controller for a guest to reset the machine: command 0xFE on port 0x64 pulses
/// the CPU reset line, which stops the VM. The command byte can be read and written; no keyboard.
/// </summary>
public sealed class I8042Controller(Action onReset)
{
    public const ushort DataPortAddress = 0x60, CommandPortAddress = 0x64;

    private const byte CmdReadCommandByte = 0x20, CmdWriteCommandByte = 0x60, CmdPulseReset = 0xfe;
    private const byte StatusOutputFull = 0x01, StatusSystemFlag = 0x04;

    private readonly object _gate = new();
    private byte _commandByte = 0x45, _output;
    private bool _outputFull, _expectCommandByte;

    public IBusDevice DataPort => new Port(this, isCommand: false);
    public IBusDevice CommandPort => new Port(this, isCommand: true);

    private sealed class Port(I8042Controller owner, bool isCommand) : IBusDevice
    {
        public void Read(ulong offset, Span<byte> data)
        {
            data.Fill(0);
            data[0] = isCommand ? owner.ReadStatus() : owner.ReadData();
        }

        public void Write(ulong offset, ReadOnlySpan<byte> data)
        {
            if (data.IsEmpty) return;
            if (isCommand) owner.WriteCommand(data[0]);
            else owner.WriteData(data[0]);
        }
    }

    private byte ReadStatus()
    {
        lock (_gate) return (byte)(StatusSystemFlag | (_outputFull ? StatusOutputFull : 0));
    }

    private byte ReadData()
    {
        lock (_gate)
        {
            _outputFull = false;
            return _output;
        }
    }

    private void WriteData(byte value)
    {
        lock (_gate)
        {
            if (!_expectCommandByte) return; // no keyboard behind the controller
            _commandByte = value;
            _expectCommandByte = false;
        }
    }

    private void WriteCommand(byte command)
    {
        bool reset = false;
        lock (_gate)
        {
            switch (command)
            {
                case CmdReadCommandByte: _output = _commandByte; _outputFull = true; break;
                case CmdWriteCommandByte: _expectCommandByte = true; break;
                case CmdPulseReset: reset = true; break;
            }
        }
        if (reset) onReset();
    }
}
