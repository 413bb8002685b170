using System.Runtime.InteropServices;

namespace Spinbox.Vmm.Tcg;

/// <summary>kill(2): .NET can only SIGKILL a child; a graceful stop needs SIGTERM.</summary>
internal static partial class ProcessSignals
{
    public const int SIGTERM = 15;

    public static bool Terminate(int pid) => kill(pid, SIGTERM) == 0;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
