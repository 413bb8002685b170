using System.Formats.Tar;
using System.Runtime.InteropServices;

namespace Spinbox.Agent.Tests;

/// <summary>A scratch folder standing in for the VM's root, removed afterwards.</summary>
internal sealed class TempRoot : IDisposable
{
    public TempRoot() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spinbox-agent-test-" + Guid.NewGuid().ToString("N"));

    public string this[string vmPath] => System.IO.Path.Join(Path, vmPath);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Builds ustar archives in memory, like the shim's extras tar.</summary>
internal static class TestTar
{
    public static byte[] Build(params (string Name, string Content, UnixFileMode Mode)[] files)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var (name, content, mode) in files)
            {
                var entry = new UstarTarEntry(TarEntryType.RegularFile, name)
                {
                    Mode = mode,
                    DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
                };
                writer.WriteEntry(entry);
            }
        }

        return buffer.ToArray();
    }

    public static byte[] WithEntry(TarEntryType type, string name, string linkName = "")
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Ustar, leaveOpen: true))
        {
            writer.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, "ok.txt") { DataStream = new MemoryStream([1]) });
            var entry = new UstarTarEntry(type, name);
            if (type is TarEntryType.SymbolicLink or TarEntryType.HardLink)
            {
                entry.LinkName = linkName;
            }

            writer.WriteEntry(entry);
        }

        return buffer.ToArray();
    }

    public static UnixFileMode Octal(int mode) => (UnixFileMode)mode;
}

/// <summary>Sets the process umask for a test, so mode checks prove umask independence.</summary>
internal sealed partial class Umask : IDisposable
{
    private readonly uint _previous;

    public Umask(uint mask) => _previous = umask(mask);

    public void Dispose() => umask(_previous);

    [LibraryImport("libc.so.6")]
    private static partial uint umask(uint mask);
}
