using Spinbox.Vmm.Devices;

namespace Spinbox.Vmm.Kvm;

/// <summary>An interrupt line backed by an eventfd registered with KVM_IRQFD: each Raise is one edge.</summary>
public sealed class IrqfdLine(EventFd eventFd) : IInterruptLine
{
    public void Raise() => eventFd.Signal();
}
