using Spinbox.GuestAgent.Logging;
using Spinbox.GuestAgent.Vsock;

namespace Spinbox.GuestAgent.Supervisor;

/// <summary>Streams a growing log file to a host vsock port, like tail -f from the first byte, until
/// the host closes the connection.</summary>
internal static class LogMirror
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public static void Start(IStdioConnector connector, uint port, string path) => _ = Task.Run(() => RunAsync(connector, port, path));

    private static async Task RunAsync(IStdioConnector connector, uint port, string path)
    {
        try
        {
            using var target = new FdStream(connector.Connect(port));
            using var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 14);
            byte[] buffer = new byte[1 << 14];
            AgentLog.Info($"mirroring {path} to host port {port}");
            while (true)
            {
                int n = source.Read(buffer);
                if (n > 0)
                {
                    target.Write(buffer.AsSpan(0, n));
                }
                else
                {
                    await Task.Delay(PollInterval).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            AgentLog.Info($"log mirror to host port {port} stopped: {e.Message}");
        }
    }
}
