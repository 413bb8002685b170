namespace Spinbox.Shim.Commands;

/// <summary>
/// The flags containerd passes to a v2 shim, Go-style with one dash: -namespace, -address,
/// -publish-binary, -id, -bundle, -debug; then the action (start, delete) or our own "serve".
/// Parsed by hand because System.CommandLine does not accept Go's single-dash long flags as given.
/// </summary>
public sealed record ShimArguments(
    string Namespace, string Address, string PublishBinary, string Id, string? Bundle, bool Debug,
    string? Socket, string Action)
{
    public static ShimArguments Parse(IReadOnlyList<string> args)
    {
        string ns = "", address = "", publish = "", id = "", action = "";
        string? bundle = null, socket = null;
        bool debug = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string flag = a.StartsWith("--") ? a[2..] : a.StartsWith('-') ? a[1..] : "";
            if (flag == "")
            {
                if (action != "") throw new ArgumentException($"unexpected argument '{a}'");
                action = a;
                continue;
            }
            string? inlineValue = null;
            int eq = flag.IndexOf('=');
            if (eq >= 0) { inlineValue = flag[(eq + 1)..]; flag = flag[..eq]; }
            if (flag == "debug") { debug = inlineValue is null or "true"; continue; }
            if (flag == "v" || flag == "version") { action = "version"; continue; }
            string value = inlineValue ?? (i + 1 < args.Count ? args[++i] : throw new ArgumentException($"flag -{flag} needs a value"));
            switch (flag)
            {
                case "namespace": ns = value; break;
                case "address": address = value; break;
                case "publish-binary": publish = value; break;
                case "id": id = value; break;
                case "bundle": bundle = value; break;
                case "socket": socket = value; break;
                default: break; // flags of newer containerds that we don't use (e.g. -log-level) are ignored
            }
        }
        return new ShimArguments(ns, address, publish, id, bundle, debug, socket, action);
    }

    public IEnumerable<string> ToServeArgs(string socketPath)
    {
        yield return "-namespace"; yield return Namespace;
        yield return "-address"; yield return Address;
        yield return "-publish-binary"; yield return PublishBinary;
        yield return "-id"; yield return Id;
        yield return "-socket"; yield return socketPath;
        if (Debug) yield return "-debug";
        yield return "serve";
    }
}
