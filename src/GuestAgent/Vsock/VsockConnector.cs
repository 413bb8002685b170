using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;

namespace Spinbox.GuestAgent.Vsock;

/// <summary>Opens descriptors for a process's stdio streams, one per host port.</summary>
internal interface IStdioConnector
{
    /// <summary>A connected descriptor for <paramref name="port"/> (never 0); the caller owns it.</summary>
    int Connect(uint port);
}

/// <summary>Guest-side vsock connections to the host (CID 2), where the shim listens.</summary>
internal sealed class VsockConnector : IStdioConnector
{
    public const uint HostCid = 2;
    public const uint AgentPort = 1024;

    public int Connect(uint port) => Libc.ConnectVsock(HostCid, port);

    /// <summary>Connects to the agent port, retrying while the transport comes up or the shim is not
    /// yet listening.</summary>
    public static int ConnectAgentChannel(TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        int attempts = 0;
        while (true)
        {
            try
            {
                return Libc.ConnectVsock(HostCid, AgentPort);
            }
            catch (LibcException e) when (DateTime.UtcNow < deadline)
            {
                if (++attempts == 1)
                {
                    AgentLog.Info($"waiting for host vsock port {AgentPort}: {e.Message}");
                }

                Thread.Sleep(20);
            }
        }
    }
}
