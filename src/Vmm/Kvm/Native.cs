using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Spinbox.Vmm.Kvm;

/// <summary>
/// The libc calls of the ioctl layer, turning -1/errno into <see cref="KvmException"/>. Calls whose errno we
/// report are imported here with SetLastError (Tmds.LibC's errno reads a stale value on a function's first
/// call); the rest come from Tmds.LibC.
/// </summary>
internal static unsafe partial class Native
{
    public const int EINTR = 4, EAGAIN = 11;
    private const int SysGettid = 186, SysTgkill = 234; // x86-64 syscall numbers
    private const short PollIn = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events, Revents;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int sys_ioctl(int fd, nuint request, nint arg);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int sys_open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint sys_mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int sys_eventfd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int sys_poll(PollFd* fds, nuint nfds, int timeout);

    /// <summary>errno of the last call made through this class on this thread.</summary>
    public static int Errno => Marshal.GetLastPInvokeError();

    public static int OpenReadWrite(string path)
    {
        int fd = sys_open(path, LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0) throw new KvmException($"open({path}) failed: {Describe(Errno)}", Errno);
        return fd;
    }

    public static void Close(int fd)
    {
        if (fd >= 0) LibC.close(fd);
    }

    /// <summary>ioctl with an integer or pointer argument; returns the non-negative result.</summary>
    public static int Ioctl(int fd, uint request, nint arg, string name)
    {
        int rc = sys_ioctl(fd, request, arg);
        if (rc < 0) throw new KvmException($"{name} failed: {Describe(Errno)}", Errno);
        return rc;
    }

    public static int Ioctl<T>(int fd, uint request, ref T arg, string name) where T : unmanaged
    {
        fixed (T* p = &arg) return Ioctl(fd, request, (nint)p, name);
    }

    /// <summary>ioctl that may fail; returns the raw result and leaves errno in <see cref="Errno"/>.</summary>
    public static int TryIoctl(int fd, uint request, nint arg) => sys_ioctl(fd, request, arg);

    public static nint MapShared(int fd, nuint length, string what)
    {
        nint p = sys_mmap(0, length, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, fd, 0);
        if (p == -1) throw new KvmException($"mmap of {what} failed: {Describe(Errno)}", Errno);
        return p;
    }

    public static void Unmap(nint address, nuint length)
    {
        if (address != 0) LibC.munmap((void*)address, (size_t)(ulong)length);
    }

    public static int CreateEventFd(bool nonBlocking)
    {
        int fd = sys_eventfd(0, LibC.EFD_CLOEXEC | (nonBlocking ? LibC.EFD_NONBLOCK : 0));
        if (fd < 0) throw new KvmException($"eventfd failed: {Describe(Errno)}", Errno);
        return fd;
    }

    public static bool WriteU64(int fd, ulong value) => (long)LibC.write(fd, &value, 8) == 8;

    public static bool TryReadU64(int fd, out ulong value)
    {
        ulong v = 0;
        bool ok = (long)LibC.read(fd, &v, 8) == 8;
        value = v;
        return ok;
    }

    /// <summary>Waits until one of fds is readable; marks which are. Returns 0 on timeout or EINTR.</summary>
    public static int Poll(ReadOnlySpan<int> fds, Span<bool> readable, int timeoutMs)
    {
        PollFd* set = stackalloc PollFd[fds.Length];
        for (int i = 0; i < fds.Length; i++) set[i] = new PollFd { Fd = fds[i], Events = PollIn };
        int rc = sys_poll(set, (nuint)fds.Length, timeoutMs);
        if (rc < 0 && Errno != EINTR) throw new KvmException($"poll failed: {Describe(Errno)}", Errno);
        for (int i = 0; i < fds.Length; i++) readable[i] = rc > 0 && (set[i].Revents & PollIn) != 0;
        return Math.Max(rc, 0);
    }

    public static int CurrentThreadId() => (int)LibC.syscall(SysGettid);

    public static bool SendSignalToThread(int tid, int signal) =>
        (int)LibC.syscall(SysTgkill, (int)LibC.getpid(), tid, signal) == 0;

    public static string Describe(int errnoValue) => $"errno {errnoValue} ({Marshal.GetPInvokeErrorMessage(errnoValue)})";
}
