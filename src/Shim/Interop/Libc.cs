using System.Runtime.InteropServices;

namespace Spinbox.Shim.Interop;

/// <summary>The few libc calls the shim needs that .NET does not wrap.</summary>
internal static partial class Libc
{
    public const int MNT_DETACH = 2;
    public const int SIGKILL = 9, SIGTERM = 15;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string fstype, ulong flags, string? data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int dup2(int oldfd, int newfd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    public const int PR_SET_CHILD_SUBREAPER = 36;

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int stat_raw(string path, [Out] byte[] buffer);

    private const int S_IFMT = 0xF000, S_IFREG = 0x8000;

    /// <summary>True when path (following links) is a regular file. x86-64 struct stat: st_mode at offset 24.</summary>
    public static bool IsRegularFile(string path)
    {
        var buf = new byte[256];
        return stat_raw(path, buf) == 0 && (BitConverter.ToUInt32(buf, 24) & S_IFMT) == S_IFREG;
    }

    private const ulong FIONREAD = 0x541B;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(nint fd, ulong request, out int value);

    /// <summary>Bytes written into a pipe or fifo that its reader has not read yet (-1 if unknown).</summary>
    public static int UnreadBytes(Microsoft.Win32.SafeHandles.SafeFileHandle handle) =>
        ioctl(handle.DangerousGetHandle(), FIONREAD, out int n) == 0 ? n : -1;

    public static string LastError() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
}
