using Spinbox.Agent.V1;
using Spinbox.GuestAgent.Containers;
using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;
using Spinbox.Ttrpc;

namespace Spinbox.GuestAgent.Service;

/// <summary>Binds the spinbox.agent.v1.Agent ttrpc methods to the agent's parts.</summary>
internal sealed class AgentService(ContainerManager containers, GuestSetup setup, HelloResponse hello)
{
    public const string ServiceName = "spinbox.agent.v1.Agent";
    private const string TerminalUnsupported = "terminal (ctr run -t) is not supported yet";

    public void Register(TtrpcServer server)
    {
        server.Register(ServiceName, "Hello", HelloRequest.Parser, (_, _) => Task.FromResult(hello));
        server.Register(ServiceName, "SetupGuest", SetupGuestRequest.Parser, (r, _) => setup.SetupAsync(r));
        server.Register(ServiceName, "CreateContainer", CreateContainerRequest.Parser, (r, _) => containers.CreateAsync(r));
        server.Register(ServiceName, "StartProcess", ProcessRef.Parser, (r, _) => containers.StartAsync(r));
        server.Register(ServiceName, "ExecProcess", ExecProcessRequest.Parser, (r, _) => containers.ExecAsync(r));
        server.Register(ServiceName, "SignalProcess", SignalRequest.Parser, async (r, _) =>
        {
            await containers.SignalAsync(r).ConfigureAwait(false);
            return new Empty();
        });
        server.Register(ServiceName, "WaitProcess", ProcessRef.Parser, (r, c) => containers.WaitAsync(r, c.CancellationToken));
        server.Register(ServiceName, "ProcessState", ProcessRef.Parser, (r, _) => containers.StateAsync(r));
        // The agent keeps no copy of a process's stdin socket: the shim half-closes its end of the
        // stdin vsock connection and the process reads EOF. Nothing is left to do here.
        server.Register(ServiceName, "CloseStdin", ProcessRef.Parser, (_, _) => Task.FromResult(new Empty()));
        server.Register(ServiceName, "ResizePty", ResizePtyRequest.Parser, (_, _) =>
            Task.FromException<Empty>(new TtrpcException(TtrpcStatusCode.Unimplemented, TerminalUnsupported)));
        server.Register(ServiceName, "ListPids", ContainerRef.Parser, (r, _) => containers.ListPidsAsync(r));
        server.Register(ServiceName, "DeleteProcess", ProcessRef.Parser, (r, _) => containers.DeleteAsync(r));
        server.Register(ServiceName, "Shutdown", Empty.Parser, (_, _) =>
        {
            // Answer first: power off once the reply has had time to leave.
            _ = Task.Run(async () =>
            {
                await Task.Delay(100).ConfigureAwait(false);
                PowerOff("shutdown requested by the host");
            });
            return Task.FromResult(new Empty());
        });
    }

    public static void PowerOff(string why)
    {
        AgentLog.Info($"powering off: {why}");
        try
        {
            Libc.PowerOff();
        }
        catch (LibcException e)
        {
            AgentLog.Error(e.Message);
        }
    }
}
