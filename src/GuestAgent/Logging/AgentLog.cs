using System.Text;
using Spinbox.GuestAgent.Interop;

namespace Spinbox.GuestAgent.Logging;

/// <summary>
/// Short prefixed lines on the kernel console, which the host keeps as the VM log. Never pass a secret
/// here: the console is readable by whoever reads the VM log. Writes go straight to the descriptor
/// (no System.Console: it installs terminal and signal handling PID 1 does not want).
/// </summary>
internal static class AgentLog
{
    private static readonly object Gate = new();
    private static int _fd = 2;

    /// <summary>Sends later lines to /dev/console (falls back to fd 2 when it cannot be opened).</summary>
    public static void UseConsole()
    {
        try
        {
            _fd = Libc.Open("/dev/console", Libc.O_WRONLY | Libc.O_NOCTTY | Libc.O_CLOEXEC);
        }
        catch (LibcException)
        {
            _fd = 2;
        }
    }

    public static void Info(string message) => Write("spinbox-agent: ", message);

    public static void Error(string message) => Write("spinbox-agent: error: ", message);

    private static void Write(string prefix, string message)
    {
        byte[] line = Encoding.UTF8.GetBytes(prefix + message.Replace('\n', ' ') + "\n");
        lock (Gate)
        {
            try
            {
                Libc.WriteAll(_fd, line);
            }
            catch (LibcException)
            {
                // Nowhere left to report a failing console.
            }
        }
    }
}
