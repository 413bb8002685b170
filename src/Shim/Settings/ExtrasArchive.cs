using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Spinbox.Shim.Settings;

/// <summary>
/// The injected files as one deterministic tar (sorted names, owner 0:0, fixed mtime, exact modes), named by
/// its SHA-256 and cached, so the next container with the same files reuses it instead of rebuilding.
/// </summary>
public static class ExtrasArchive
{
    private static readonly DateTimeOffset FixedMtime = DateTimeOffset.FromUnixTimeSeconds(0);

    /// <returns>The cached tar's path and whether it was reused.</returns>
    public static (string Path, bool Reused) GetOrBuild(IReadOnlyList<ExtraFile> files, string cacheDir, ILogger logger)
    {
        string dir = Path.Combine(cacheDir, "extras");
        string index = Path.Combine(dir, "by-input");
        Directory.CreateDirectory(index);
        var sorted = files.OrderBy(f => f.Destination, StringComparer.Ordinal).ToList();
        string inputKey = InputKey(sorted);
        string indexFile = Path.Combine(index, inputKey);
        if (File.Exists(indexFile) && File.ReadAllText(indexFile).Trim() is { Length: 64 } known
            && File.Exists(Path.Combine(dir, known + ".tar")))
        {
            logger.LogInformation("extras: reusing cached tar {Hash} for {Count} files", known, sorted.Count);
            return (Path.Combine(dir, known + ".tar"), true);
        }

        string temp = Path.Combine(dir, $".build-{Environment.ProcessId}-{Guid.NewGuid():N}.tar");
        try
        {
            using (var output = File.Create(temp))
            using (var writer = new TarWriter(output, TarEntryFormat.Ustar, leaveOpen: false))
            {
                foreach (var f in sorted)
                {
                    string name = f.Destination.TrimStart('/');
                    var entry = new UstarTarEntry(TarEntryType.RegularFile, name)
                    {
                        Mode = (UnixFileMode)f.Mode, Uid = 0, Gid = 0, UserName = "root", GroupName = "root", ModificationTime = FixedMtime,
                    };
                    using var data = File.OpenRead(f.Source);
                    entry.DataStream = data;
                    writer.WriteEntry(entry);
                }
            }
            string hash;
            using (var tar = File.OpenRead(temp)) hash = Convert.ToHexStringLower(SHA256.HashData(tar));
            string final = Path.Combine(dir, hash + ".tar");
            if (File.Exists(final)) File.Delete(temp);
            else File.Move(temp, final);
            File.WriteAllText(indexFile, hash);
            logger.LogInformation("extras: built tar {Hash} for {Count} files", hash, sorted.Count);
            return (final, false);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>A key over what determines the tar's bytes: each destination, mode and source content.</summary>
    private static string InputKey(IEnumerable<ExtraFile> sorted)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in sorted)
        {
            h.AppendData(Encoding.UTF8.GetBytes($"{f.Destination}\0{f.Mode}\0"));
            using var data = File.OpenRead(f.Source);
            h.AppendData(SHA256.HashData(data));
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }
}
