using Spinbox.Shim.Interop;

namespace Spinbox.Shim.Io;

/// <summary>
/// Opens a containerd stdio fifo. open(2) on a fifo blocks until the other end is opened, so it runs on its
/// own thread; cancelling opens the other end ourselves to release it.
/// </summary>
public static class FifoOpener
{
    public static async Task<FileStream> OpenAsync(string path, bool forWriting, CancellationToken ct)
    {
        var open = Task.Factory.StartNew(
            () => new FileStream(path, FileMode.Open, forWriting ? FileAccess.Write : FileAccess.Read, FileShare.ReadWrite, 1, false),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        using (ct.Register(() => Release(path, forWriting)))
        {
            var stream = await open;
            if (ct.IsCancellationRequested) { stream.Dispose(); ct.ThrowIfCancellationRequested(); }
            return stream;
        }
    }

    private static void Release(string path, bool openerWrites)
    {
        // A writer waits for a reader and vice versa: briefly be the missing end.
        int fd = Libc.open(path, (openerWrites ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0);
        if (fd >= 0) { Thread.Sleep(10); Libc.close(fd); }
    }
}
