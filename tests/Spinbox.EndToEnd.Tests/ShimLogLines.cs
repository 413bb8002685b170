using System.Text.RegularExpressions;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// The spinbox shim's lines in a private containerd's log (the shim writes to the bundle's log fifo and
/// containerd tags each line with `id=ID runtime=io.containerd.spinbox.v1`).
/// </summary>
public static partial class ShimLogLines
{
    /// <summary>containerd's whole log; read with sharing, since containerd keeps writing it.</summary>
    public static string ReadAll(PrivateContainerd containerd)
    {
        using var stream = new FileStream(containerd.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static List<string> For(PrivateContainerd containerd, string id) =>
        ReadAll(containerd).Split('\n').Where(l => l.Contains($" id={id} ") && l.Contains("runtime=io.containerd.spinbox.v1")).ToList();

    /// <summary>The tar hash of the container's "extras: built tar H" or "extras: reusing cached tar H" line.</summary>
    public static (string Hash, bool Reused)? ExtrasTar(PrivateContainerd containerd, string id)
    {
        foreach (var line in For(containerd, id))
        {
            var m = ExtrasLine().Match(line);
            if (m.Success) return (m.Groups[2].Value, m.Groups[1].Value == "reusing cached");
        }
        return null;
    }

    [GeneratedRegex("extras: (built|reusing cached) tar ([0-9a-f]{64})")]
    private static partial Regex ExtrasLine();
}
