using System.Formats.Tar;

namespace Spinbox.GuestAgent.Extras;

/// <summary>
/// Extracts the extras archive (a tar of regular files with modes, written by the shim). The archive is
/// read twice: first every entry is checked, so a bad entry means nothing is written; then files are
/// written. Missing parent folders are created 0755; each file gets exactly its archive mode (chmod
/// after writing, so the umask plays no part). A file is written beside its target and renamed over
/// it, so replacing a running binary works and readers never see half a file.
/// </summary>
internal static class TarExtractor
{
    private const UnixFileMode ParentMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>Returns the VM paths of the regular files written, in archive order.</summary>
    public static List<string> Extract(Func<Stream> openArchive, string root)
    {
        using (var stream = openArchive())
        {
            Validate(stream);
        }

        var files = new List<string>();
        using (var stream = openArchive())
        using (var reader = new TarReader(stream, leaveOpen: true))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                string vmPath = ExtrasPaths.Normalize(entry.Name);
                string target = ExtrasPaths.UnderRoot(root, vmPath);
                if (entry.EntryType == TarEntryType.Directory)
                {
                    CreateParents(root, vmPath + "/");
                    File.SetUnixFileMode(target, entry.Mode);
                    continue;
                }

                CreateParents(root, vmPath);
                WriteFile(target, entry);
                files.Add(vmPath);
            }
        }

        return files;
    }

    private static void Validate(Stream stream)
    {
        using var reader = new TarReader(stream, leaveOpen: true);
        TarEntry? entry;
        while ((entry = Next(reader)) is not null)
        {
            string vmPath = ExtrasPaths.Normalize(entry.Name);
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.Directory))
            {
                throw new InvalidExtrasException($"entry \"{entry.Name}\": type {entry.EntryType} is not supported (regular files and directories only)");
            }

            if (vmPath == "/")
            {
                throw new InvalidExtrasException($"entry \"{entry.Name}\": names the root folder");
            }
        }
    }

    private static TarEntry? Next(TarReader reader)
    {
        try
        {
            return reader.GetNextEntry();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or EndOfStreamException)
        {
            throw new InvalidExtrasException($"not a valid tar archive: {e.Message}");
        }
    }

    /// <summary>Creates each missing folder above <paramref name="vmPath"/> with mode 0755 exactly.</summary>
    private static void CreateParents(string root, string vmPath)
    {
        int slash = 0;
        while ((slash = vmPath.IndexOf('/', slash + 1)) > 0)
        {
            string dir = ExtrasPaths.UnderRoot(root, vmPath[..slash]);
            if (File.Exists(dir) && !Directory.Exists(dir))
            {
                throw new InvalidExtrasException($"{vmPath[..slash]} exists as a file, so {vmPath.TrimEnd('/')} cannot be created under it");
            }

            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir);
                File.SetUnixFileMode(dir, ParentMode);
            }
        }
    }

    private static void WriteFile(string target, TarEntry entry)
    {
        if (Directory.Exists(target))
        {
            throw new InvalidExtrasException($"{target} is a folder; the archive's file cannot replace it");
        }

        string temporary = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.spinbox-tmp");
        var options = new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            // Owner-only until the final mode is applied, so no one reads a half-written file.
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using (var output = new FileStream(temporary, options))
        {
            entry.DataStream?.CopyTo(output);
            output.Flush(flushToDisk: false);
        }

        File.SetUnixFileMode(temporary, entry.Mode);
        File.Move(temporary, target, overwrite: true);
    }
}
