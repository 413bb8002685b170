using System.Runtime.InteropServices;

namespace Spinbox.GuestAgent.Interop;

/// <summary>
/// Every libc call the agent makes, with safe wrappers that throw <see cref="LibcException"/>.
/// This is the only file with raw pointers: callers pass spans and strings.
/// Process creation is posix_spawn, never System.Diagnostics.Process, because that class installs its
/// own SIGCHLD handling and reaps children the agent's reaper must see.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc.so.6";

    public const int EINTR = 4;
    public const int ECHILD = 10;
    public const int EAGAIN = 11;
    public const int EBUSY = 16;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINVAL = 22;

    public const ulong MS_RDONLY = 1;
    public const ulong MS_NOSUID = 2;
    public const ulong MS_NODEV = 4;
    public const ulong MS_NOEXEC = 8;
    public const ulong MS_BIND = 4096;
    public const ulong MS_MOVE = 8192;
    public const ulong MS_REC = 16384;
    public const ulong MS_RELATIME = 1 << 21;

    public const int MNT_DETACH = 2;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_NOCTTY = 0x100;
    public const int O_APPEND = 0x400;
    public const int O_CLOEXEC = 0x80000;

    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;

    private const int AF_INET = 2;
    private const int AF_VSOCK = 40;
    private const int SOCK_STREAM = 1;
    private const int SOCK_DGRAM = 2;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int F_GETFD = 1;
    private const ulong SIOCGIFFLAGS = 0x8913;
    private const ulong SIOCSIFFLAGS = 0x8914;
    private const short IFF_UP = 0x1;

    private const int RB_POWER_OFF = 0x4321fedc;

    private const uint MFD_CLOEXEC = 1;
    private const uint MFD_ALLOW_SEALING = 2;
    private const int F_ADD_SEALS = 1033;
    // F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE: what runc and crun check for.
    private const int SealsOfAClonedBinary = 1 | 2 | 4 | 8;

    private const short POSIX_SPAWN_SETSIGDEF = 0x04;
    private const short POSIX_SPAWN_SETSIGMASK = 0x08;
    private const short POSIX_SPAWN_SETSID = 0x80;
    // glibc x86-64 sizes are 80 (file actions), 336 (attr) and 128 (sigset); allocated with headroom.
    private const int SpawnStructBytes = 1024;

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chroot(string path);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chdir(string path);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int sethostname(byte* name, nuint len);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int reboot(int cmd);

    [LibraryImport(Lib)]
    private static partial void sync();

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int waitpid(int pid, int* status, int options);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int kill(int pid, int sig);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int connect(int fd, void* addr, uint addrLen);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int shutdown(int fd, int how);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial nint write(int fd, byte* buf, nuint count);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int fcntl(int fd, int cmd);

    [LibraryImport(Lib, SetLastError = true, EntryPoint = "fcntl")]
    private static partial int fcntl_int(int fd, int cmd, int arg);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create(string name, uint flags);

    [LibraryImport(Lib, SetLastError = true)]
    private static partial int ioctl(int fd, ulong request, void* arg);

    [LibraryImport(Lib)]
    private static partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport(Lib)]
    private static partial int posix_spawn_file_actions_init(void* fileActions);

    [LibraryImport(Lib)]
    private static partial int posix_spawn_file_actions_destroy(void* fileActions);

    [LibraryImport(Lib)]
    private static partial int posix_spawn_file_actions_adddup2(void* fileActions, int fd, int newFd);

    [LibraryImport(Lib)]
    private static partial int posix_spawn_file_actions_addclosefrom_np(void* fileActions, int from);

    [LibraryImport(Lib)]
    private static partial int posix_spawnattr_init(void* attr);

    [LibraryImport(Lib)]
    private static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport(Lib)]
    private static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport(Lib)]
    private static partial int posix_spawnattr_setsigmask(void* attr, void* sigmask);

    [LibraryImport(Lib)]
    private static partial int posix_spawnattr_setsigdefault(void* attr, void* sigdefault);

    [LibraryImport(Lib)]
    private static partial int sigemptyset(void* set);

    [LibraryImport(Lib)]
    private static partial int sigfillset(void* set);

    private static int LastErrno => Marshal.GetLastPInvokeError();

    private static LibcException Error(string operation, int errno) => new(operation, errno);

    public static void Mount(string? source, string target, string? fstype, ulong flags, string? data)
    {
        if (mount(source, target, fstype, flags, data) != 0)
        {
            throw Error($"mount {fstype ?? "bind"} {source} on {target}", LastErrno);
        }
    }

    public static void Unmount(string target, int flags)
    {
        if (umount2(target, flags) != 0)
        {
            throw Error($"umount {target}", LastErrno);
        }
    }

    public static void ChangeRoot(string path)
    {
        if (chroot(path) != 0)
        {
            throw Error($"chroot {path}", LastErrno);
        }
    }

    public static void ChangeDirectory(string path)
    {
        if (chdir(path) != 0)
        {
            throw Error($"chdir {path}", LastErrno);
        }
    }

    /// <summary>open(2); the descriptor is close-on-exec unless the caller leaves O_CLOEXEC out.</summary>
    public static int Open(string path, int flags, uint mode = 0)
    {
        int fd = open(path, flags, mode);
        if (fd < 0)
        {
            throw Error($"open {path}", LastErrno);
        }

        return fd;
    }

    public static bool IsOpen(int fd) => fcntl(fd, F_GETFD) >= 0;

    public static void SetHostname(string name)
    {
        byte[] bytes = System.Text.Encoding.ASCII.GetBytes(name);
        fixed (byte* p = bytes)
        {
            if (sethostname(p, (nuint)bytes.Length) != 0)
            {
                throw Error($"sethostname {name}", LastErrno);
            }
        }
    }

    public static void Sync() => sync();

    public static void PowerOff()
    {
        sync();
        if (reboot(RB_POWER_OFF) != 0)
        {
            throw Error("reboot(RB_POWER_OFF)", LastErrno);
        }
    }

    /// <summary>Blocks for any child's exit. Returns its pid and raw wait status, or pid -1 with the errno.</summary>
    public static (int Pid, int Status, int Errno) WaitAnyChild()
    {
        int status = 0;
        int pid = waitpid(-1, &status, 0);
        return pid > 0 ? (pid, status, 0) : (-1, 0, LastErrno);
    }

    /// <summary>kill(2); returns the errno (0 on success) so callers can treat ESRCH as "already gone".</summary>
    public static int Kill(int pid, int signal) => kill(pid, signal) == 0 ? 0 : LastErrno;

    /// <summary>A connected AF_VSOCK stream socket to (cid, port); throws with the errno on failure.</summary>
    public static int ConnectVsock(uint cid, uint port)
    {
        int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Error("socket(AF_VSOCK)", LastErrno);
        }

        // struct sockaddr_vm: family(2) reserved(2) port(4) cid(4) zero(4).
        byte* addr = stackalloc byte[16];
        new Span<byte>(addr, 16).Clear();
        *(ushort*)addr = AF_VSOCK;
        *(uint*)(addr + 4) = port;
        *(uint*)(addr + 8) = cid;
        while (true)
        {
            if (connect(fd, addr, 16) == 0)
            {
                return fd;
            }

            int errno = LastErrno;
            if (errno == EINTR)
            {
                continue;
            }

            close(fd);
            throw Error($"connect vsock {cid}:{port}", errno);
        }
    }

    public static void Shutdown(int fd, int how)
    {
        if (shutdown(fd, how) != 0)
        {
            throw Error("shutdown", LastErrno);
        }
    }

    /// <summary>read(2), retried on EINTR; 0 means end of stream.</summary>
    public static int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = read(fd, p, (nuint)buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }

                if (LastErrno != EINTR)
                {
                    throw Error("read", LastErrno);
                }
            }
        }
    }

    /// <summary>Writes the whole buffer, retrying short writes and EINTR.</summary>
    public static void WriteAll(int fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint n = write(fd, p + done, (nuint)(buffer.Length - done));
                if (n >= 0)
                {
                    done += (int)n;
                }
                else if (LastErrno != EINTR)
                {
                    throw Error("write", LastErrno);
                }
            }
        }
    }

    public static void Close(int fd) => close(fd);

    /// <summary>A sealed memfd holding a copy of <paramref name="path"/>, sealed the way crun seals the
    /// copy of itself it makes on every run (so it finds itself already cloned and skips the copy).</summary>
    public static int CreateSealedCopy(string path, string name)
    {
        int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
        {
            throw Error("memfd_create", LastErrno);
        }

        try
        {
            WriteAll(fd, File.ReadAllBytes(path));
            if (fcntl_int(fd, F_ADD_SEALS, SealsOfAClonedBinary) != 0)
            {
                throw Error("F_ADD_SEALS", LastErrno);
            }

            return fd;
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    /// <summary>Sets IFF_UP on a network interface (used for "lo").</summary>
    public static void BringInterfaceUp(string name)
    {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw Error("socket(AF_INET)", LastErrno);
        }

        try
        {
            // struct ifreq: name[16] then a union whose first member here is short ifr_flags.
            byte* ifreq = stackalloc byte[40];
            var span = new Span<byte>(ifreq, 40);
            span.Clear();
            System.Text.Encoding.ASCII.GetBytes(name, span[..15]);
            if (ioctl(fd, SIOCGIFFLAGS, ifreq) != 0)
            {
                throw Error($"SIOCGIFFLAGS {name}", LastErrno);
            }

            *(short*)(ifreq + 16) |= IFF_UP;
            if (ioctl(fd, SIOCSIFFLAGS, ifreq) != 0)
            {
                throw Error($"SIOCSIFFLAGS {name}", LastErrno);
            }
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>
    /// posix_spawn with fds 0-2 taken from the given descriptors and every other descriptor closed, all
    /// signal dispositions reset to default and an empty signal mask (the runtime ignores SIGPIPE; a
    /// child must not inherit that). Returns the child's pid.
    /// </summary>
    public static int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> environment, int stdin, int stdout, int stderr, bool newSession)
    {
        var strings = new List<nint>();
        void* fileActions = NativeMemory.AllocZeroed(SpawnStructBytes);
        void* attr = NativeMemory.AllocZeroed(SpawnStructBytes);
        void* emptyMask = NativeMemory.AllocZeroed(SpawnStructBytes);
        void* allSignals = NativeMemory.AllocZeroed(SpawnStructBytes);
        byte** argvPtr = (byte**)NativeMemory.AllocZeroed((nuint)(argv.Count + 1), (nuint)sizeof(nint));
        byte** envPtr = (byte**)NativeMemory.AllocZeroed((nuint)(environment.Count + 1), (nuint)sizeof(nint));
        bool actionsReady = false, attrReady = false;
        try
        {
            byte* Utf8(string s)
            {
                nint p = Marshal.StringToCoTaskMemUTF8(s);
                strings.Add(p);
                return (byte*)p;
            }

            for (int i = 0; i < argv.Count; i++)
            {
                argvPtr[i] = Utf8(argv[i]);
            }

            for (int i = 0; i < environment.Count; i++)
            {
                envPtr[i] = Utf8(environment[i]);
            }

            Check(posix_spawn_file_actions_init(fileActions), "posix_spawn_file_actions_init");
            actionsReady = true;
            Check(posix_spawn_file_actions_adddup2(fileActions, stdin, 0), "adddup2 stdin");
            Check(posix_spawn_file_actions_adddup2(fileActions, stdout, 1), "adddup2 stdout");
            Check(posix_spawn_file_actions_adddup2(fileActions, stderr, 2), "adddup2 stderr");
            Check(posix_spawn_file_actions_addclosefrom_np(fileActions, 3), "addclosefrom_np");

            Check(posix_spawnattr_init(attr), "posix_spawnattr_init");
            attrReady = true;
            sigemptyset(emptyMask);
            sigfillset(allSignals);
            Check(posix_spawnattr_setsigmask(attr, emptyMask), "setsigmask");
            Check(posix_spawnattr_setsigdefault(attr, allSignals), "setsigdefault");
            short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
            if (newSession)
            {
                flags |= POSIX_SPAWN_SETSID;
            }

            Check(posix_spawnattr_setflags(attr, flags), "setflags");

            int pid = 0;
            int rc = posix_spawn(&pid, Utf8(path), fileActions, attr, argvPtr, envPtr);
            if (rc != 0)
            {
                throw Error($"spawn {path}", rc);
            }

            return pid;
        }
        finally
        {
            if (actionsReady)
            {
                posix_spawn_file_actions_destroy(fileActions);
            }

            if (attrReady)
            {
                posix_spawnattr_destroy(attr);
            }

            foreach (nint p in strings)
            {
                Marshal.FreeCoTaskMem(p);
            }

            NativeMemory.Free(fileActions);
            NativeMemory.Free(attr);
            NativeMemory.Free(emptyMask);
            NativeMemory.Free(allSignals);
            NativeMemory.Free(argvPtr);
            NativeMemory.Free(envPtr);
        }

        static void Check(int rc, string what)
        {
            if (rc != 0)
            {
                throw Error(what, rc);
            }
        }
    }
}

/// <summary>A failed libc call: the operation and its errno, with the system's text for it.</summary>
internal sealed class LibcException(string operation, int errno)
    : IOException($"{operation}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
{
    public int Errno { get; } = errno;
}
