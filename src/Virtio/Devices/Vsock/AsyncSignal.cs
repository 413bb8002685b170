namespace Spinbox.Virtio.Devices.Vsock;

/// <summary>
/// A wake-up for tasks waiting on a condition guarded by an outside lock: take <see cref="WaitAsync"/> under the
/// lock after finding the condition false, release the lock, await. <see cref="Pulse"/> (under the lock) wakes
/// every waiter; continuations run on the thread pool, never inside the lock.
/// </summary>
internal sealed class AsyncSignal
{
    private TaskCompletionSource? _waiters;

    public Task WaitAsync() => (_waiters ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public void Pulse()
    {
        var waiters = _waiters;
        _waiters = null;
        waiters?.TrySetResult();
    }
}
