namespace Spinbox.GuestAgent.Processes;

/// <summary>Maps a raw waitpid(2) status to the single number containerd reports.</summary>
internal static class ExitStatus
{
    /// <summary>The exit code for a normal exit; 128 + signal number when a signal killed the
    /// process (as runc and containerd report it).</summary>
    public static uint FromWaitStatus(int status)
    {
        int termSignal = status & 0x7f;
        if (termSignal == 0)
        {
            return (uint)((status >> 8) & 0xff);
        }

        if (termSignal != 0x7f)
        {
            return 128u + (uint)termSignal;
        }

        // 0x7f is "stopped", which waitpid without WUNTRACED never reports; keep the stop signal visible.
        return 128u + (uint)((status >> 8) & 0xff);
    }
}
