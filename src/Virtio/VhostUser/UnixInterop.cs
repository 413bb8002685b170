using System.Runtime.InteropServices;

namespace Spinbox.Virtio.VhostUser;

/// <summary>An owned file descriptor; closing is reference-counted, so a racing write never hits a reused fd number.</summary>
public sealed class OwnedFd : SafeHandle
{
    public OwnedFd(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public int Fd => (int)handle;

    // fd 0 is a valid descriptor; only -1 means "none".
    public override bool IsInvalid => handle == -1;

    protected override bool ReleaseHandle() => UnixInterop.close((int)handle) == 0;
}

/// <summary>
/// The libc calls the vhost-user back end needs: AF_UNIX sockets with SCM_RIGHTS, poll, eventfd, mmap.
/// The only file in the vhost-user code that touches raw pointers.
/// </summary>
internal static unsafe partial class UnixInterop
{
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, SOCK_NONBLOCK = 0x800;
    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1;
    public const int MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000, MSG_CTRUNC = 0x8;
    public const short POLLIN = 1, POLLERR = 8, POLLHUP = 0x10, POLLNVAL = 0x20;
    public const int EINTR = 4, EAGAIN = 11;
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_NORESERVE = 0x4000;
    public const int MaxFdsPerMessage = 16;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd { public int Fd; public short Events; public short Revents; }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public void* Base; public nuint Length; }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name; public uint NameLength; public IoVec* Iov; public nuint IovLength;
        public void* Control; public nuint ControlLength; public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CmsgHdr { public nuint Length; public int Level; public int Type; }

    public static int LastErrno => Marshal.GetLastPInvokeError();

    /// <summary>Creates, binds and listens on a unix stream socket at <paramref name="path"/>.</summary>
    public static OwnedFd ListenUnix(string path) => UnixSocketAt(path, listen: true);

    /// <summary>Connects a unix stream socket (used by tests acting as the front end).</summary>
    public static OwnedFd ConnectUnix(string path) => UnixSocketAt(path, listen: false);

    /// <summary>A unix stream socket bound and listening at <paramref name="path"/>, or connected to it.</summary>
    private static OwnedFd UnixSocketAt(string path, bool listen)
    {
        byte[] pathBytes = System.Text.Encoding.UTF8.GetBytes(path);
        if (pathBytes.Length >= 108) throw new ArgumentException($"unix socket path is {pathBytes.Length} bytes, the limit is 107: {path}", nameof(path));
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"socket(AF_UNIX) failed: errno {LastErrno}");
        var owned = new OwnedFd(fd);
        byte* addr = stackalloc byte[110];
        new Span<byte>(addr, 110).Clear();
        *(ushort*)addr = AF_UNIX;
        pathBytes.CopyTo(new Span<byte>(addr + 2, 108));
        uint addrLength = (uint)(2 + pathBytes.Length + 1);
        string? failed =
            !listen ? (connect(fd, addr, addrLength) != 0 ? "connect" : null)
            : bind(fd, addr, addrLength) != 0 ? "bind"
            : UnixInterop.listen(fd, 1) != 0 ? "listen" : null;
        if (failed != null)
        {
            int e = LastErrno; owned.Dispose();
            throw new IOException($"{failed}({path}) failed: errno {e}");
        }
        return owned;
    }

    public static OwnedFd Accept(OwnedFd listener)
    {
        int fd;
        do fd = accept4(listener.Fd, null, null, SOCK_CLOEXEC); while (fd < 0 && LastErrno == EINTR);
        if (fd < 0) throw new IOException($"accept failed: errno {LastErrno}");
        return new OwnedFd(fd);
    }

    /// <summary>
    /// Receives up to buffer.Length bytes plus any SCM_RIGHTS fds (appended to <paramref name="fds"/>).
    /// Returns bytes read (0 on orderly shutdown). Sets <paramref name="truncated"/> when the kernel dropped fds.
    /// </summary>
    public static int ReceiveWithFds(OwnedFd socket, Span<byte> buffer, List<OwnedFd> fds, out bool truncated)
    {
        const int controlSize = 16 + MaxFdsPerMessage * 4; // CMSG_SPACE(16 ints)
        byte* control = stackalloc byte[controlSize];
        new Span<byte>(control, controlSize).Clear();
        fixed (byte* data = buffer)
        {
            var iov = new IoVec { Base = data, Length = (nuint)buffer.Length };
            var msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = controlSize };
            nint n;
            do n = recvmsg(socket.Fd, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && LastErrno == EINTR);
            if (n < 0) throw new IOException($"recvmsg failed: errno {LastErrno}");
            truncated = (msg.Flags & MSG_CTRUNC) != 0;
            // Walk the control messages; collect every passed fd so none leaks even when we reject the message.
            nuint offset = 0;
            while (offset + (nuint)sizeof(CmsgHdr) <= msg.ControlLength)
            {
                var cmsg = (CmsgHdr*)(control + offset);
                if (cmsg->Length < (nuint)sizeof(CmsgHdr) || offset + cmsg->Length > msg.ControlLength) break;
                if (cmsg->Level == SOL_SOCKET && cmsg->Type == SCM_RIGHTS)
                {
                    int count = (int)((cmsg->Length - (nuint)sizeof(CmsgHdr)) / 4);
                    int* fdp = (int*)(control + offset + (nuint)sizeof(CmsgHdr));
                    for (int i = 0; i < count; i++) fds.Add(new OwnedFd(fdp[i]));
                }
                offset += (cmsg->Length + 7) & ~(nuint)7;
            }
            return (int)n;
        }
    }

    /// <summary>Sends all of <paramref name="data"/>, the fds (if any) attached to the first byte.</summary>
    public static void SendWithFds(OwnedFd socket, ReadOnlySpan<byte> data, ReadOnlySpan<int> fds)
    {
        if (fds.Length > MaxFdsPerMessage) throw new ArgumentException("too many fds", nameof(fds));
        int controlSize = fds.Length == 0 ? 0 : 16 + ((fds.Length * 4 + 7) & ~7);
        byte* control = stackalloc byte[16 + MaxFdsPerMessage * 4];
        new Span<byte>(control, 16 + MaxFdsPerMessage * 4).Clear();
        if (fds.Length > 0)
        {
            var cmsg = (CmsgHdr*)control;
            cmsg->Length = (nuint)(16 + fds.Length * 4);
            cmsg->Level = SOL_SOCKET;
            cmsg->Type = SCM_RIGHTS;
            fds.CopyTo(new Span<int>(control + 16, fds.Length));
        }
        int sent = 0;
        fixed (byte* p = data)
        {
            while (sent < data.Length)
            {
                var iov = new IoVec { Base = p + sent, Length = (nuint)(data.Length - sent) };
                var msg = new MsgHdr { Iov = &iov, IovLength = 1 };
                if (sent == 0 && controlSize > 0) { msg.Control = control; msg.ControlLength = (nuint)controlSize; }
                nint n = sendmsg(socket.Fd, &msg, MSG_NOSIGNAL);
                if (n < 0)
                {
                    if (LastErrno == EINTR) continue;
                    throw new IOException($"sendmsg failed: errno {LastErrno}");
                }
                sent += (int)n;
            }
        }
    }

    /// <summary>Waits for any of the fds; returns false on timeout. Retries on EINTR.</summary>
    public static bool Poll(Span<PollFd> fds, int timeoutMs)
    {
        fixed (PollFd* p = fds)
        {
            while (true)
            {
                int n = poll(p, (nuint)fds.Length, timeoutMs);
                if (n >= 0) return n > 0;
                if (LastErrno != EINTR) throw new IOException($"poll failed: errno {LastErrno}");
            }
        }
    }

    public static OwnedFd CreateEventFd(bool nonBlocking = true)
    {
        int fd = eventfd(0, EFD_CLOEXEC | (nonBlocking ? EFD_NONBLOCK : 0));
        if (fd < 0) throw new IOException($"eventfd failed: errno {LastErrno}");
        return new OwnedFd(fd);
    }

    /// <summary>Adds 1 to an eventfd counter. Failure (e.g. the peer closed it) is reported, not thrown.</summary>
    public static bool SignalEventFd(OwnedFd fd)
    {
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            ulong one = 1;
            nint n;
            do n = write(fd.Fd, &one, 8); while (n < 0 && LastErrno == EINTR);
            return n == 8 || (n < 0 && LastErrno == EAGAIN); // EAGAIN: counter saturated, the peer will wake anyway
        }
        catch (ObjectDisposedException) { return false; }
        finally { if (added) fd.DangerousRelease(); }
    }

    /// <summary>Reads and clears an eventfd counter (non-blocking fds return 0 when nothing is pending).</summary>
    public static ulong DrainEventFd(OwnedFd fd)
    {
        ulong value = 0;
        nint n;
        do n = read(fd.Fd, &value, 8); while (n < 0 && LastErrno == EINTR);
        return n == 8 ? value : 0;
    }

    /// <summary>Maps <paramref name="length"/> bytes of <paramref name="fd"/> from page-aligned <paramref name="offset"/>, shared.</summary>
    public static nint MapShared(OwnedFd fd, ulong length, ulong offset)
    {
        nint addr = mmap(0, (nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd.Fd, (long)offset);
        if (addr == -1) throw new IOException($"mmap of {length} bytes at fd offset 0x{offset:x} failed: errno {LastErrno}");
        return addr;
    }

    public static void Unmap(nint address, ulong length) => munmap(address, (nuint)length);

    [LibraryImport("libc", SetLastError = true)] private static partial int socket(int domain, int type, int protocol);
    [LibraryImport("libc", SetLastError = true)] private static partial int bind(int fd, byte* addr, uint len);
    [LibraryImport("libc", SetLastError = true)] private static partial int connect(int fd, byte* addr, uint len);
    [LibraryImport("libc", SetLastError = true)] private static partial int listen(int fd, int backlog);
    [LibraryImport("libc", SetLastError = true)] private static partial int accept4(int fd, byte* addr, uint* len, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint recvmsg(int fd, MsgHdr* msg, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint sendmsg(int fd, MsgHdr* msg, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int poll(PollFd* fds, nuint count, int timeout);
    [LibraryImport("libc", SetLastError = true)] private static partial int eventfd(uint initval, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, void* buf, nuint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint write(int fd, void* buf, nuint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);
    [LibraryImport("libc", SetLastError = true)] private static partial int munmap(nint addr, nuint length);
    [LibraryImport("libc", SetLastError = true)] internal static partial int close(int fd);
}
