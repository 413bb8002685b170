using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Processes;
using Spinbox.GuestAgent.Vsock;

namespace Spinbox.GuestAgent.Containers;

/// <summary>
/// The descriptors a process gets as stdin/stdout/stderr: one vsock connection per non-zero host
/// port, /dev/null for port 0. The sockets are handed to the process itself (no copy loop in the
/// agent); the agent closes its copies right after the spawn, so the host sees EOF exactly when the
/// process (and anything it passed the descriptors to) is done with them.
/// </summary>
internal sealed class StdioConnections : IDisposable
{
    private readonly List<int> _owned = new();

    private StdioConnections(ChildStdio fds) => Fds = fds;

    public ChildStdio Fds { get; private set; }

    public static StdioConnections Connect(IStdioConnector connector, uint stdinPort, uint stdoutPort, uint stderrPort, int devNull)
    {
        var result = new StdioConnections(default);
        try
        {
            int stdin = result.Open(connector, stdinPort, devNull, "stdin");
            int stdout = result.Open(connector, stdoutPort, devNull, "stdout");
            int stderr = result.Open(connector, stderrPort, devNull, "stderr");
            result.Fds = new ChildStdio(stdin, stdout, stderr);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (int fd in _owned)
        {
            Libc.Close(fd);
        }

        _owned.Clear();
    }

    private int Open(IStdioConnector connector, uint port, int devNull, string stream)
    {
        if (port == 0)
        {
            return devNull;
        }

        int fd;
        try
        {
            fd = connector.Connect(port);
        }
        catch (LibcException e)
        {
            throw new IOException($"{stream}: cannot connect to host vsock port {port}: {e.Message}", e);
        }

        _owned.Add(fd);
        return fd;
    }
}
