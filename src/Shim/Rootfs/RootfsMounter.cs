using Spinbox.Shim.Interop;

namespace Spinbox.Shim.Rootfs;

/// <summary>Mounts the rootfs containerd's snapshotter prepared (usually one overlay) onto bundle/rootfs.</summary>
public static class RootfsMounter
{
    private const ulong MS_RDONLY = 1, MS_BIND = 4096, MS_REC = 16384, MS_REMOUNT = 32;

    public sealed record MountSpec(string Type, string Source, IReadOnlyList<string> Options);

    /// <summary>Mounts each in order onto <paramref name="target"/>; returns true when anything was mounted.</summary>
    public static bool MountAll(IReadOnlyList<MountSpec> mounts, string target)
    {
        if (mounts.Count == 0) return false;
        Directory.CreateDirectory(target);
        foreach (var m in mounts)
        {
            bool bind = m.Type == "bind" || m.Options.Contains("bind") || m.Options.Contains("rbind");
            bool readOnly = m.Options.Contains("ro");
            if (bind)
            {
                ulong flags = MS_BIND | (m.Options.Contains("rbind") ? MS_REC : 0);
                Check(Libc.mount(m.Source, target, "", flags, null), m, target);
                if (readOnly) Check(Libc.mount("", target, "", MS_REMOUNT | MS_BIND | MS_RDONLY, null), m, target);
            }
            else
            {
                var data = string.Join(',', m.Options.Where(o => o != "ro" && o != "rw"));
                Check(Libc.mount(m.Source, target, m.Type, readOnly ? MS_RDONLY : 0, data.Length == 0 ? null : data), m, target);
            }
        }
        return true;
    }

    public static void Unmount(string target)
    {
        if (Libc.umount2(target, 0) != 0) Libc.umount2(target, Libc.MNT_DETACH);
    }

    private static void Check(int rc, MountSpec m, string target)
    {
        if (rc != 0) throw new IOException($"mounting rootfs ({m.Type} from {m.Source}) on {target} failed: {Libc.LastError()}");
    }
}
