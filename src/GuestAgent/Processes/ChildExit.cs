namespace Spinbox.GuestAgent.Processes;

/// <summary>One reaped child: its pid, the mapped exit status and when the reaper saw it.</summary>
internal readonly record struct ChildExit(int Pid, uint ExitStatus, long ExitedAtUnixNano);
