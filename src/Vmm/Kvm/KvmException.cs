namespace Spinbox.Vmm.Kvm;

/// <summary>A KVM or libc call failed; the message names the call and the errno.</summary>
public sealed class KvmException(string message, int errno = 0) : Exception(message)
{
    public int Errno { get; } = errno;
}
