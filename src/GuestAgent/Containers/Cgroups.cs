namespace Spinbox.GuestAgent.Containers;

/// <summary>cgroup v2 lookups for a container's processes.</summary>
internal static class Cgroups
{
    public const string Root = "/sys/fs/cgroup";

    /// <summary>The unified-hierarchy path from /proc/PID/cgroup text ("0::/path"), or null.</summary>
    public static string? UnifiedPath(string procCgroupText)
    {
        foreach (string line in procCgroupText.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("0::", StringComparison.Ordinal))
            {
                string path = line[3..];
                return path.Length > 0 && !path.Contains("..", StringComparison.Ordinal) ? path : null;
            }
        }

        return null;
    }

    public static string? DirectoryOf(int pid)
    {
        try
        {
            string? path = UnifiedPath(File.ReadAllText($"/proc/{pid}/cgroup"));
            return path is null ? null : Root + (path == "/" ? "" : path);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Every pid in the cgroup and its descendants (sorted, distinct).</summary>
    public static List<uint> PidsUnder(string directory)
    {
        var pids = new SortedSet<uint>();
        var pending = new Stack<string>();
        pending.Push(directory);
        while (pending.Count > 0)
        {
            string dir = pending.Pop();
            try
            {
                foreach (string line in File.ReadAllLines(Path.Combine(dir, "cgroup.procs")))
                {
                    if (uint.TryParse(line.Trim(), out uint pid))
                    {
                        pids.Add(pid);
                    }
                }

                foreach (string child in Directory.EnumerateDirectories(dir))
                {
                    pending.Push(child);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A child cgroup removed while we walk it has no pids left to report.
            }
        }

        return pids.ToList();
    }
}
