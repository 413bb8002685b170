using Spinbox.Ttrpc;

namespace Spinbox.GuestAgent.Containers;

/// <summary>Container and exec ids become folder and file names, so only safe names pass.</summary>
internal static class Identifiers
{
    public const int MaxLength = 128;

    public static bool IsValid(string value)
    {
        if (value.Length is 0 or > MaxLength || !char.IsAsciiLetterOrDigit(value[0]))
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    public static void Require(string value, string field)
    {
        if (!IsValid(value))
        {
            throw new TtrpcException(TtrpcStatusCode.InvalidArgument,
                $"{field} \"{Truncate(value)}\" is not valid: use 1-{MaxLength} of [A-Za-z0-9_.-], starting with a letter or digit");
        }
    }

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "...";
}
