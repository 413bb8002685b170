namespace Spinbox.Shim.Vm;

/// <summary>A running VM on either backend, as the shim sees it.</summary>
public interface IGuestVm : IAsyncDisposable
{
    /// <summary>"kvm" or "tcg".</summary>
    string Backend { get; }

    /// <summary>Host pid of a helper process that runs the VM (QEMU), or our own pid for kvm.</summary>
    int ProcessId { get; }

    /// <summary>Completes when the VM stopped, with a reason for the log.</summary>
    Task<string> Stopped { get; }

    /// <summary>Asks the VM to stop; after the grace period it is killed.</summary>
    Task StopAsync(TimeSpan grace);
}
