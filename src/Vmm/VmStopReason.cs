namespace Spinbox.Vmm;

public enum VmStopKind
{
    /// <summary>Every vCPU executed HLT with nothing left to wake it (VMs without an in-kernel irqchip).</summary>
    AllVcpusHalted,

    /// <summary>The guest pulsed the reset line through the i8042 controller (Linux reboot=k).</summary>
    GuestReset,

    /// <summary>A vCPU hit a triple fault (KVM_EXIT_SHUTDOWN).</summary>
    TripleFault,

    /// <summary>The host asked the VM to stop (the shim, or Dispose).</summary>
    Requested,

    /// <summary>KVM or the VMM failed (entry failure, internal error, unexpected exit).</summary>
    Error,
}

/// <summary>Why a VM stopped, with a detail line for the log.</summary>
public sealed record VmStopReason(VmStopKind Kind, string Detail)
{
    public override string ToString() => $"{Kind}: {Detail}";
}
