using Google.Protobuf;
using Spinbox.Agent.V1;
using Spinbox.Ttrpc;

namespace Spinbox.Shim.Vm;

/// <summary>Typed calls to the guest agent's spinbox.agent.v1.Agent service.</summary>
public sealed class AgentClient(TtrpcClient client) : IAsyncDisposable
{
    private const string Service = "spinbox.agent.v1.Agent";

    public Task Completion => client.Completion;

    private Task<T> Call<T>(string method, IMessage request, MessageParser<T> parser, TimeSpan? timeout = null, CancellationToken ct = default)
        where T : IMessage<T> => client.CallAsync(Service, method, request, parser, ct, timeout: timeout);

    public Task<HelloResponse> HelloAsync() => Call("Hello", new HelloRequest(), HelloResponse.Parser, TimeSpan.FromSeconds(30));
    public Task<Empty> SetupGuestAsync(SetupGuestRequest r) => Call("SetupGuest", r, Empty.Parser, TimeSpan.FromSeconds(120));
    public Task<ProcessResponse> CreateContainerAsync(CreateContainerRequest r) => Call("CreateContainer", r, ProcessResponse.Parser, TimeSpan.FromSeconds(120));
    public Task<ProcessResponse> StartProcessAsync(ProcessRef r) => Call("StartProcess", r, ProcessResponse.Parser, TimeSpan.FromSeconds(60));
    public Task<ProcessResponse> ExecProcessAsync(ExecProcessRequest r) => Call("ExecProcess", r, ProcessResponse.Parser, TimeSpan.FromSeconds(60));
    public Task<Empty> SignalProcessAsync(SignalRequest r) => Call("SignalProcess", r, Empty.Parser, TimeSpan.FromSeconds(30));
    public Task<ExitResponse> WaitProcessAsync(ProcessRef r, CancellationToken ct) => Call("WaitProcess", r, ExitResponse.Parser, ct: ct);
    public Task<StateResponse> ProcessStateAsync(ProcessRef r) => Call("ProcessState", r, StateResponse.Parser, TimeSpan.FromSeconds(30));
    public Task<Empty> CloseStdinAsync(ProcessRef r) => Call("CloseStdin", r, Empty.Parser, TimeSpan.FromSeconds(30));
    public Task<Empty> ResizePtyAsync(ResizePtyRequest r) => Call("ResizePty", r, Empty.Parser, TimeSpan.FromSeconds(30));
    public Task<PidsResponse> ListPidsAsync(ContainerRef r) => Call("ListPids", r, PidsResponse.Parser, TimeSpan.FromSeconds(30));
    public Task<ExitResponse> DeleteProcessAsync(ProcessRef r) => Call("DeleteProcess", r, ExitResponse.Parser, TimeSpan.FromSeconds(60));
    public Task<Empty> ShutdownAsync() => Call("Shutdown", new Empty(), Empty.Parser, TimeSpan.FromSeconds(10));

    public ValueTask DisposeAsync() => client.DisposeAsync();
}
