using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;

namespace Spinbox.GuestAgent.Boot;

/// <summary>What PID 1 sets up before it can serve: root, pseudo filesystems, cgroups, hostname, lo.</summary>
internal static class GuestBoot
{
    public const string DefaultHostname = "spinbox";

    /// <summary>True when the root could be moved off the initramfs, so crun can pivot_root.</summary>
    public static bool PivotRootUsable { get; private set; }

    public static void Run()
    {
        EnsureStandardDescriptors();
        PivotRootUsable = LeaveInitramfsRoot();
        MountPseudoFilesystems();
        AgentLog.UseConsole();
        EnableCgroupControllers();
    }

    public static void Configure(KernelCmdline cmdline)
    {
        string hostname = cmdline.Get(KernelCmdline.HostnameKey) is { Length: > 0 and <= 64 } h ? h : DefaultHostname;
        Try("sethostname", () => Libc.SetHostname(hostname));
        Try("lo up", () => Libc.BringInterfaceUp("lo"));
    }

    /// <summary>
    /// Without /dev/console in the initramfs the kernel starts init with fds 0-2 closed; the first
    /// sockets would then land on them and dup2 onto stdio would clobber each other.
    /// </summary>
    private static void EnsureStandardDescriptors()
    {
        for (int fd = 0; fd <= 2; fd++)
        {
            if (!Libc.IsOpen(fd))
            {
                try
                {
                    Libc.Open("/dev/console", Libc.O_RDWR | Libc.O_NOCTTY);
                }
                catch (LibcException)
                {
                    // Any descriptor will do as a placeholder: children never inherit 0-2 from the agent.
                    Libc.Open("/", Libc.O_RDONLY);
                }
            }
        }
    }

    /// <summary>
    /// pivot_root(2) refuses the initramfs root (it has no parent mount). A bind mount of / moved over /
    /// and chrooted into does have one, which lets crun pivot as it does on any host.
    /// </summary>
    private static bool LeaveInitramfsRoot()
    {
        const string staging = "/.spinbox-root";
        try
        {
            Directory.CreateDirectory(staging);
            Libc.Mount("/", staging, null, Libc.MS_BIND | Libc.MS_REC, null);
            Libc.ChangeDirectory(staging);
            Libc.Mount(".", "/", null, Libc.MS_MOVE, null);
            Libc.ChangeRoot(".");
            Libc.ChangeDirectory("/");
            return true;
        }
        catch (LibcException e)
        {
            AgentLog.Error($"cannot move root off the initramfs ({e.Message}); crun will run with --no-pivot");
            return false;
        }
    }

    private static void MountPseudoFilesystems()
    {
        const ulong secure = Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC;
        MountOne("proc", "/proc", "proc", secure, null);
        MountOne("sysfs", "/sys", "sysfs", secure, null);
        MountOne("devtmpfs", "/dev", "devtmpfs", Libc.MS_NOSUID, "mode=0755");
        MountOne("devpts", "/dev/pts", "devpts", Libc.MS_NOSUID | Libc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        MountOne("shm", "/dev/shm", "tmpfs", secure, "mode=1777");
        MountOne("tmpfs", "/run", "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "mode=0755");
        MountOne("tmpfs", "/tmp", "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "mode=1777");
        MountOne("cgroup2", "/sys/fs/cgroup", "cgroup2", secure, null);
    }

    private static void MountOne(string source, string target, string fstype, ulong flags, string? data)
    {
        try
        {
            Directory.CreateDirectory(target);
            Libc.Mount(source, target, fstype, flags, data);
        }
        catch (LibcException e) when (e.Errno == Libc.EBUSY)
        {
            // Already mounted (the kernel may have mounted devtmpfs itself).
        }
        catch (Exception e) when (e is LibcException or IOException or UnauthorizedAccessException)
        {
            AgentLog.Error(e.Message);
        }
    }

    /// <summary>Turns on every controller the kernel offers for child cgroups, one at a time so one
    /// refusal does not lose the rest.</summary>
    private static void EnableCgroupControllers()
    {
        const string root = "/sys/fs/cgroup";
        string available;
        try
        {
            available = File.ReadAllText(Path.Combine(root, "cgroup.controllers"));
        }
        catch (IOException e)
        {
            AgentLog.Error($"cgroup2 controllers unreadable: {e.Message}");
            return;
        }

        foreach (string controller in available.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                File.WriteAllText(Path.Combine(root, "cgroup.subtree_control"), "+" + controller);
            }
            catch (IOException e)
            {
                AgentLog.Error($"cgroup controller {controller}: {e.Message}");
            }
        }
    }

    private static void Try(string what, Action action)
    {
        try
        {
            action();
        }
        catch (LibcException e)
        {
            AgentLog.Error($"{what}: {e.Message}");
        }
    }
}
