using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// After a `ctr run --rm`, nothing of the container may remain: no process naming its id (what
/// `pgrep -f ID` finds: the shim, a VMM), no mount naming it, no file or socket of it in the private
/// state dir, no shim socket, no container record, no snapshot; for spinbox also nothing of it in the
/// shim's own state dir (the config's state_dir, default /run/spinbox).
/// </summary>
public static class Leftovers
{
    // The shim exits shortly after ctr's delete returns: give it a moment before calling it a leak.
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    public static async Task AssertNoneAsync(PrivateContainerd containerd, string id)
    {
        var deadline = DateTime.UtcNow + Grace;
        List<string> found;
        while ((found = Find(containerd, id)).Count > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.True(found.Count == 0, $"container {id} left behind: {string.Join("; ", found)}");

        var containers = await containerd.Ctr("containers", "list", "-q");
        Assert.True(containers.ExitCode == 0, containers.Describe());
        Assert.DoesNotContain(id, Lines(containers.Stdout));

        var snapshots = await containerd.Ctr("snapshots", "list");
        Assert.True(snapshots.ExitCode == 0, snapshots.Describe());
        Assert.DoesNotContain(id, Lines(snapshots.Stdout).Select(l => l.Split(' ', 2)[0]));
    }

    public static List<string> Find(PrivateContainerd containerd, string id)
    {
        var found = new List<string>();
        found.AddRange(ProcessesNaming(id).Select(p => $"process {p}"));
        found.AddRange(File.ReadLines("/proc/self/mountinfo").Where(l => l.Contains(id)).Select(l => $"mount {l}"));
        if (Directory.Exists(containerd.StateDir))
        {
            found.AddRange(Directory.EnumerateFileSystemEntries(containerd.StateDir, "*", SearchOption.AllDirectories)
                .Where(p => p.Contains(id)).Select(p => $"state entry {p}"));
        }
        var socket = ShimSocketPath(containerd.Socket, PrivateContainerd.Namespace, id);
        if (File.Exists(socket)) found.Add($"shim socket {socket}");
        if (SpinboxStateDir() is { } spinboxState && Directory.Exists(spinboxState))
        {
            found.AddRange(Directory.EnumerateFileSystemEntries(spinboxState, "*", SearchOption.AllDirectories)
                .Where(p => p.Contains(id)).Select(p => $"spinbox state entry {p}"));
            var spinboxSocket = SpinboxSocketPath(spinboxState, containerd.Socket, PrivateContainerd.Namespace, id);
            if (File.Exists(spinboxSocket)) found.Add($"spinbox shim socket {spinboxSocket}");
        }
        return found;
    }

    /// <summary>The spinbox shim's state_dir from SPINBOX_CONFIG (default /run/spinbox), or null when spinbox is not set up.</summary>
    public static string? SpinboxStateDir()
    {
        var config = Environment.GetEnvironmentVariable("SPINBOX_CONFIG");
        if (string.IsNullOrEmpty(config) || !File.Exists(config)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(config),
            new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        return doc.RootElement.TryGetProperty("state_dir", out var dir) && dir.GetString() is { Length: > 0 } d ? d : "/run/spinbox";
    }

    /// <summary>
    /// Where the spinbox shim puts its socket: STATE_DIR/s/ plus the first 20 hex digits of
    /// sha256("STATE_DIR|containerd address|namespace|id") (as src/Shim/Commands/ShimPaths.cs does; its name carries no id).
    /// </summary>
    public static string SpinboxSocketPath(string stateDir, string containerdAddress, string ns, string id)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{stateDir}|{containerdAddress}|{ns}|{id}"));
        return Path.Combine(stateDir, "s", Convert.ToHexStringLower(hash)[..20] + ".sock");
    }

    /// <summary>
    /// Where containerd's shim library puts a shim's socket: /run/containerd/s/ plus the sha256 of
    /// "address/namespace/id" (checked against containerd 1.7 and 2.1 runc shims).
    /// </summary>
    public static string ShimSocketPath(string containerdAddress, string ns, string id)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{containerdAddress}/{ns}/{id}"));
        return Path.Combine("/run/containerd/s", Convert.ToHexStringLower(hash));
    }

    private static IEnumerable<string> ProcessesNaming(string id)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (!int.TryParse(name, out var pid) || pid == Environment.ProcessId) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Trim(); }
            catch (IOException) { continue; }          // exited while we looked
            catch (UnauthorizedAccessException) { continue; }
            if (cmdline.Contains(id)) yield return $"{pid}: {cmdline}";
        }
    }

    private static string[] Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
