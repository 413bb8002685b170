using Spinbox.Virtio.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>Reads a kernel file and loads it by format (bzImage or ELF vmlinux).</summary>
public static class KernelLoader
{
    public static LoadedKernel Load(string path, IGuestMemory memory, ulong ramBelowHole)
    {
        byte[] file = ReadFile(path, "kernel image");
        if (file.Length == 0) throw BootImageException.For(path, "the file is empty");
        if (ElfKernelLoader.Matches(file)) return ElfKernelLoader.Load(path, file, memory, ramBelowHole);
        if (BzImageLoader.Matches(file)) return BzImageLoader.Load(path, file, memory, ramBelowHole);
        throw BootImageException.For(path, "neither an ELF vmlinux (no ELF magic) nor a bzImage (no 'HdrS' setup header)");
    }

    /// <summary>Reads a boot file; a missing or unreadable one is a BootImageException naming it.</summary>
    public static byte[] ReadFile(string path, string what)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            string problem = e is FileNotFoundException or DirectoryNotFoundException ? "file not found" : e.Message;
            throw new BootImageException($"{what} '{path}': {problem}");
        }
    }
}
