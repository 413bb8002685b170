using System.Text;

namespace Spinbox.GuestAgent.Boot;

/// <summary>
/// The kernel command line as key/value pairs. Tokens are split on whitespace; double quotes group
/// a value with spaces (as the kernel parses them); a bare word has an empty value. Later
/// occurrences of a key win.
/// </summary>
public sealed class KernelCmdline
{
    public const string ExtrasForceKey = "spin.extras_force";
    public const string HostnameKey = "spin.hostname";
    public const string SelfTestKey = "spinbox.selftest";

    private readonly Dictionary<string, string> _values;

    private KernelCmdline(Dictionary<string, string> values) => _values = values;

    public static KernelCmdline Empty { get; } = new(new Dictionary<string, string>(StringComparer.Ordinal));

    public static KernelCmdline Parse(string text)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string token in Tokenize(text))
        {
            int eq = token.IndexOf('=');
            string key = eq < 0 ? token : token[..eq];
            string value = eq < 0 ? "" : token[(eq + 1)..];
            if (key.Length > 0)
            {
                values[key] = value;
            }
        }

        return new KernelCmdline(values);
    }

    /// <summary>Reads /proc/cmdline; an unreadable file yields an empty command line.</summary>
    public static KernelCmdline ReadCurrent(string path = "/proc/cmdline")
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (IOException)
        {
            return Empty;
        }
    }

    public string? Get(string key) => _values.TryGetValue(key, out var v) ? v : null;

    /// <summary>True for "1", "y", "yes", "true" or "on" (any case), and for a bare key.</summary>
    public bool IsTrue(string key) =>
        _values.TryGetValue(key, out var v) &&
        (v.Length == 0 || v is "1" || v.Equals("y", StringComparison.OrdinalIgnoreCase) ||
         v.Equals("yes", StringComparison.OrdinalIgnoreCase) || v.Equals("true", StringComparison.OrdinalIgnoreCase) ||
         v.Equals("on", StringComparison.OrdinalIgnoreCase));

    public bool ExtrasForce => IsTrue(ExtrasForceKey);

    private static IEnumerable<string> Tokenize(string text)
    {
        var current = new StringBuilder();
        bool inQuotes = false, any = false;
        foreach (char c in text)
        {
            if (c == '"')
            {
                inQuotes = !inQuotes;
                any = true;
            }
            else if (!inQuotes && char.IsWhiteSpace(c))
            {
                if (any)
                {
                    yield return current.ToString();
                    current.Clear();
                    any = false;
                }
            }
            else
            {
                current.Append(c);
                any = true;
            }
        }

        if (any)
        {
            yield return current.ToString();
        }
    }
}
