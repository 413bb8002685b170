namespace Spinbox.GuestAgent.Containers;

/// <summary>A created container: its bundle folder, mounted rootfs, init process and execs.</summary>
internal sealed class Container(string id, string bundle, string rootfs, AgentProcess init)
{
    public string Id { get; } = id;

    public string Bundle { get; } = bundle;

    public string Rootfs { get; } = rootfs;

    public AgentProcess Init { get; } = init;

    public Dictionary<string, AgentProcess> Execs { get; } = new(StringComparer.Ordinal);

    /// <summary>The init's cgroup folder under /sys/fs/cgroup, read right after create (null if unknown).</summary>
    public string? CgroupDirectory { get; set; }
}
