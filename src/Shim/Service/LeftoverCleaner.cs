using Spinbox.Shim.Commands;
using Spinbox.Shim.Interop;

namespace Spinbox.Shim.Service;

/// <summary>Removes what a dead shim may have left: its VM process, rootfs mount, state folder and socket.</summary>
public static class LeftoverCleaner
{
    public static void Clean(ShimPaths paths, string bundle)
    {
        if (File.Exists(paths.VmPidFile) && int.TryParse(File.ReadAllText(paths.VmPidFile).Trim(), out int pid) && pid > 1)
            Libc.kill(pid, Libc.SIGKILL);
        if (File.Exists(paths.RootfsMountRecord))
        {
            string target = File.ReadAllText(paths.RootfsMountRecord).Trim();
            if (target.Length > 0) Libc.umount2(target, Libc.MNT_DETACH);
        }
        TryDelete(() => Directory.Delete(paths.State, recursive: true));
        TryDelete(() => File.Delete(paths.Socket));
    }

    private static void TryDelete(Action a)
    {
        try { a(); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
