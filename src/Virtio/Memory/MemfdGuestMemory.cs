using System.Runtime.InteropServices;

namespace Spinbox.Virtio.Memory;

/// <summary>
/// Creates guest RAM as one shared memfd, mapped here. The fd can be handed to KVM
/// (KVM_SET_USER_MEMORY_REGION takes the mapping) or to QEMU (memory-backend-memfd shares it).
/// </summary>
public static partial class MemfdGuestMemory
{
    private const int MFD_CLOEXEC = 1;
    private const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

    public sealed class Allocation(MappedGuestMemory memory, int fd, nint hostAddress, ulong size) : IDisposable
    {
        public MappedGuestMemory Memory { get; } = memory;
        public int Fd { get; } = fd;
        public nint HostAddress { get; } = hostAddress;
        public ulong Size { get; } = size;
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            munmap(HostAddress, (nuint)Size);
            close(Fd);
        }
    }

    /// <summary>One region of <paramref name="size"/> bytes at guest-physical address <paramref name="gpa"/>.</summary>
    public static Allocation Create(string name, ulong size, ulong gpa = 0)
    {
        if (size == 0 || size % 4096 != 0) throw new ArgumentException("guest memory size must be a non-zero multiple of 4096", nameof(size));
        int fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0) throw new IOException($"memfd_create failed: errno {Marshal.GetLastPInvokeError()}");
        if (ftruncate(fd, (long)size) != 0)
        {
            int e = Marshal.GetLastPInvokeError(); close(fd);
            throw new IOException($"ftruncate of guest memory to {size} bytes failed: errno {e}");
        }
        nint addr = mmap(0, (nuint)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (addr == -1)
        {
            int e = Marshal.GetLastPInvokeError(); close(fd);
            throw new IOException($"mmap of guest memory failed: errno {e}");
        }
        var memory = new MappedGuestMemory([new GuestMemoryRegion(gpa, size, addr)]);
        return new Allocation(memory, fd, addr, size);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create(string name, int flags);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int ftruncate(int fd, long length);
    [LibraryImport("libc", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(nint addr, nuint length);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
