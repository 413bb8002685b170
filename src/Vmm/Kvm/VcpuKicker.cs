using System.Runtime.InteropServices;

namespace Spinbox.Vmm.Kvm;

/// <summary>
/// Pulls a vCPU thread out of KVM_RUN: the caller sets kvm_run.immediate_exit, then sends this signal to
/// the thread so a KVM_RUN already in progress returns EINTR. The handler does nothing; the runtime's
/// signal dispatch is used so no native handler code is needed.
/// </summary>
public static class VcpuKicker
{
    /// <summary>SIGRTMIN+6 with glibc; the .NET runtime itself uses SIGRTMIN for thread suspension.</summary>
    public const int Signal = 40;

    private static readonly object Gate = new();
    private static PosixSignalRegistration? _registration;

    /// <summary>Installs the no-op handler once per process (the default action would kill the process).</summary>
    public static void EnsureInstalled()
    {
        lock (Gate)
        {
            _registration ??= PosixSignalRegistration.Create((PosixSignal)Signal, context => context.Cancel = true);
        }
    }

    public static int CurrentThreadId() => Native.CurrentThreadId();

    public static bool Kick(int threadId) => Native.SendSignalToThread(threadId, Signal);
}
