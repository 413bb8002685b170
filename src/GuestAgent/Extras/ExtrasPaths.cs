namespace Spinbox.GuestAgent.Extras;

/// <summary>An extras archive the agent refuses; the message names the entry and the problem.</summary>
internal sealed class InvalidExtrasException(string message) : Exception(message);

/// <summary>Turns a tar entry name into the absolute VM path it may write, or refuses it.</summary>
internal static class ExtrasPaths
{
    /// <summary>"/usr/local/bin/app", "usr/local/bin/app" and "./usr//local/bin/app" all give
    /// "/usr/local/bin/app". Empty names, NUL bytes and any ".." segment are refused.</summary>
    public static string Normalize(string entryName)
    {
        if (entryName.Contains('\0'))
        {
            throw new InvalidExtrasException($"entry \"{entryName.Replace('\0', '?')}\": name contains a NUL byte");
        }

        var segments = new List<string>();
        foreach (string segment in entryName.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                throw new InvalidExtrasException($"entry \"{entryName}\": \"..\" is not allowed in a path");
            }

            segments.Add(segment);
        }

        if (segments.Count == 0)
        {
            throw new InvalidExtrasException($"entry \"{entryName}\": names no file");
        }

        return "/" + string.Join('/', segments);
    }

    /// <summary>Where a normalized VM path lands under <paramref name="root"/> ("/" in the VM).</summary>
    public static string UnderRoot(string root, string vmPath) =>
        root == "/" ? vmPath : Path.Join(root, vmPath);
}
