using System.Collections.Concurrent;
using System.Net.Sockets;
using Containerd.Task.V2;
using Google.Protobuf.WellKnownTypes;

namespace Spinbox.Ttrpc.Tests;

public class ClientServerTests
{
    private const string TaskService = "containerd.task.v2.Task";

    [Fact]
    public async Task Round_trip_carries_request_response_and_metadata()
    {
        var server = new TtrpcServer();
        string? seenNamespace = null;
        server.Register(TaskService, "Create", CreateTaskRequest.Parser, (request, context) =>
        {
            seenNamespace = context.Metadata.GetValueOrDefault("containerd-namespace-ttrpc");
            Assert.Equal("Create", context.Method);
            return Task.FromResult(new CreateTaskResponse { Pid = (uint)request.Bundle.Length });
        });
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();

        var response = await client.CallAsync(TaskService, "Create", new CreateTaskRequest { Id = "c1", Bundle = "/run/bundle" },
            CreateTaskResponse.Parser, metadata: new Dictionary<string, string> { ["containerd-namespace-ttrpc"] = "k8s.io" });

        Assert.Equal(11u, response.Pid);
        Assert.Equal("k8s.io", seenNamespace);
    }

    [Fact]
    public async Task Fifty_concurrent_calls_complete_out_of_order()
    {
        var server = new TtrpcServer();
        server.Register(TaskService, "Wait", WaitRequest.Parser, async (request, context) =>
        {
            int n = int.Parse(request.Id);
            await Task.Delay((50 - n) * 10, context.CancellationToken); // later calls answer first
            return new WaitResponse { ExitStatus = (uint)n };
        });
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();

        var completionOrder = new ConcurrentQueue<int>();
        var calls = Enumerable.Range(0, 50).Select(async n =>
        {
            var response = await client.CallAsync(TaskService, "Wait", new WaitRequest { Id = n.ToString() }, WaitResponse.Parser);
            completionOrder.Enqueue(n);
            return (n, response.ExitStatus);
        }).ToArray();
        var results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.All(results, r => Assert.Equal((uint)r.n, r.ExitStatus));
        var order = completionOrder.ToArray();
        Assert.Equal(50, order.Length);
        Assert.True(order.First() > order.Last(), $"expected the fast (late) calls to finish first, order: {string.Join(",", order)}");
    }

    [Fact]
    public async Task A_blocked_handler_does_not_hold_up_another_call()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new TtrpcServer();
        server.Register(TaskService, "Wait", WaitRequest.Parser, async (request, context) =>
        {
            await release.Task.WaitAsync(context.CancellationToken);
            return new WaitResponse { ExitStatus = 7 };
        });
        server.Register(TaskService, "State", StateRequest.Parser, (request, _) => Task.FromResult(new StateResponse { Id = request.Id }));
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();

        var wait = client.CallAsync(TaskService, "Wait", new WaitRequest { Id = "c1" }, WaitResponse.Parser);
        var state = await client.CallAsync(TaskService, "State", new StateRequest { Id = "c1" }, StateResponse.Parser)
            .WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal("c1", state.Id);
        Assert.False(wait.IsCompleted);
        release.SetResult();
        Assert.Equal(7u, (await wait.WaitAsync(TimeSpan.FromSeconds(5))).ExitStatus);
    }

    [Fact]
    public async Task Handler_TtrpcException_arrives_with_its_code_and_message()
    {
        var server = new TtrpcServer();
        server.Register<KillRequest, Empty>(TaskService, "Kill", KillRequest.Parser,
            (request, _) => throw new TtrpcException(TtrpcStatusCode.NotFound, $"process {request.ExecId} not found"));
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();

        var e = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync(TaskService, "Kill", new KillRequest { Id = "c1", ExecId = "e9" }, Empty.Parser));

        Assert.Equal(TtrpcStatusCode.NotFound, e.Code);
        Assert.Equal("process e9 not found", e.Message);
    }

    [Fact]
    public async Task Other_handler_exceptions_arrive_as_Unknown_with_the_message()
    {
        var server = new TtrpcServer();
        server.Register<PidsRequest, PidsResponse>(TaskService, "Pids", PidsRequest.Parser,
            async (_, _) =>
            {
                await Task.Yield();
                throw new InvalidOperationException("cgroup is gone");
            });
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();

        var e = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync(TaskService, "Pids", new PidsRequest { Id = "c1" }, PidsResponse.Parser));

        Assert.Equal(TtrpcStatusCode.Unknown, e.Code);
        Assert.Equal("cgroup is gone", e.Message);
    }

    [Fact]
    public async Task Unknown_method_is_Unimplemented_and_named()
    {
        var server = new TtrpcServer();
        server.Register(TaskService, "State", StateRequest.Parser, (r, _) => Task.FromResult(new StateResponse()));
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();

        var e = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync(TaskService, "Checkpoint", new CheckpointTaskRequest { Id = "c1" }, Empty.Parser));

        Assert.Equal(TtrpcStatusCode.Unimplemented, e.Code);
        Assert.Contains("/containerd.task.v2.Task/Checkpoint", e.Message);
        // The connection is still good afterwards.
        Assert.NotNull(await client.CallAsync(TaskService, "State", new StateRequest(), StateResponse.Parser));
    }

    [Fact]
    public async Task Oversized_frame_closes_only_that_connection()
    {
        var server = new TtrpcServer();
        var connectionErrors = new ConcurrentQueue<Exception>();
        server.ConnectionError = connectionErrors.Enqueue;
        server.Register(TaskService, "State", StateRequest.Parser, (r, _) => Task.FromResult(new StateResponse { Id = r.Id }));
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var bystander = await host.ConnectAsync();

        using (var attacker = await host.ConnectRawAsync())
        {
            // Announces 0x7FFFFFFF bytes on stream 5; the server must not try to allocate that.
            byte[] header = [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 5, 1, 0];
            await attacker.SendAsync(header);

            var reply = await ReadToEndAsync(attacker).WaitAsync(TimeSpan.FromSeconds(5));
            var replyHeader = FrameHeader.ReadFrom(reply);
            Assert.Equal(5u, replyHeader.StreamId);
            Assert.Equal(MessageType.Response, replyHeader.Type);
            var response = Proto.Response.Parser.ParseFrom(reply.AsSpan(FrameHeader.Size, (int)replyHeader.Length));
            Assert.Equal((int)TtrpcStatusCode.ResourceExhausted, response.Status.Code);
            Assert.Contains("2147483647", response.Status.Message);
        }

        Assert.IsType<FrameTooLargeException>(Assert.Single(connectionErrors));
        Assert.Equal("before", (await bystander.CallAsync(TaskService, "State", new StateRequest { Id = "before" }, StateResponse.Parser)).Id);
        await using var newcomer = await host.ConnectAsync();
        Assert.Equal("after", (await newcomer.CallAsync(TaskService, "State", new StateRequest { Id = "after" }, StateResponse.Parser)).Id);
    }

    [Fact]
    public async Task Connection_closed_mid_call_fails_the_pending_call_as_Unavailable()
    {
        string path = UnixSocketServer.NewSocketPath();
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        try
        {
            await using var client = await TtrpcClient.ConnectUnixAsync(path);
            using var peer = await listener.AcceptAsync();

            var call = client.CallAsync(TaskService, "Wait", new WaitRequest { Id = "c1" }, WaitResponse.Parser);
            var header = new byte[FrameHeader.Size];
            await ReceiveExactlyAsync(peer, header);
            Assert.Equal(MessageType.Request, FrameHeader.ReadFrom(header).Type);
            peer.Shutdown(SocketShutdown.Both);
            peer.Close();

            var e = await Assert.ThrowsAsync<TtrpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(5)));
            Assert.Equal(TtrpcStatusCode.Unavailable, e.Code);
            await client.Completion.WaitAsync(TimeSpan.FromSeconds(5));
            var later = await Assert.ThrowsAsync<TtrpcException>(() =>
                client.CallAsync(TaskService, "Wait", new WaitRequest(), WaitResponse.Parser));
            Assert.Equal(TtrpcStatusCode.Unavailable, later.Code);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Client_uses_odd_stream_ids_increasing_by_two()
    {
        string path = UnixSocketServer.NewSocketPath();
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        try
        {
            await using var client = await TtrpcClient.ConnectUnixAsync(path);
            using var peer = await listener.AcceptAsync();
            var ids = new List<uint>();
            for (int i = 0; i < 3; i++)
            {
                _ = client.CallAsync(TaskService, "State", new StateRequest(), StateResponse.Parser);
                var header = new byte[FrameHeader.Size];
                await ReceiveExactlyAsync(peer, header).WaitAsync(TimeSpan.FromSeconds(5));
                var parsed = FrameHeader.ReadFrom(header);
                await ReceiveExactlyAsync(peer, new byte[parsed.Length]);
                ids.Add(parsed.StreamId);
            }

            Assert.Equal(new uint[] { 1, 3, 5 }, ids);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Cancelling_one_call_fails_it_locally_and_leaves_the_connection_usable()
    {
        var server = new TtrpcServer();
        server.Register(TaskService, "Wait", WaitRequest.Parser, async (r, context) =>
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
            return new WaitResponse();
        });
        server.Register(TaskService, "State", StateRequest.Parser, (r, _) => Task.FromResult(new StateResponse { Id = r.Id }));
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();
        using var cts = new CancellationTokenSource();

        var wait = client.CallAsync(TaskService, "Wait", new WaitRequest(), WaitResponse.Parser, cts.Token);
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("ok", (await client.CallAsync(TaskService, "State", new StateRequest { Id = "ok" }, StateResponse.Parser)).Id);
    }

    [Fact]
    public async Task Timeout_fails_the_call_with_DeadlineExceeded_and_reaches_the_handler()
    {
        var handlerCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new TtrpcServer();
        server.Register(TaskService, "Wait", WaitRequest.Parser, async (r, context) =>
        {
            using var _ = context.CancellationToken.Register(handlerCancelled.SetResult);
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
            return new WaitResponse();
        });
        await using var host = await UnixSocketServer.StartAsync(server);
        await using var client = await host.ConnectAsync();

        var e = await Assert.ThrowsAsync<TtrpcException>(() =>
            client.CallAsync(TaskService, "Wait", new WaitRequest(), WaitResponse.Parser, timeout: TimeSpan.FromMilliseconds(200)));

        Assert.Equal(TtrpcStatusCode.DeadlineExceeded, e.Code);
        await handlerCancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task ServeAsync_works_over_any_duplex_stream()
    {
        var server = new TtrpcServer();
        server.Register(TaskService, "Connect", ConnectRequest.Parser, (r, _) => Task.FromResult(new ConnectResponse { Version = "v2", ShimPid = 9 }));
        var (a, b) = await SocketPairAsync();
        using var cts = new CancellationTokenSource();
        await using var serverStream = new NetworkStream(a, ownsSocket: true);
        var serving = server.ServeAsync(serverStream, cts.Token);
        await using (var client = new TtrpcClient(new NetworkStream(b, ownsSocket: true)))
        {
            var response = await client.CallAsync(TaskService, "Connect", new ConnectRequest { Id = "c1" }, ConnectResponse.Parser);
            Assert.Equal(9u, response.ShimPid);
        }

        // The client hung up: ServeAsync ends normally at EOF.
        await serving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    private static async Task<(Socket, Socket)> SocketPairAsync()
    {
        string path = UnixSocketServer.NewSocketPath();
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
        var server = await listener.AcceptAsync();
        File.Delete(path);
        return (server, client);
    }

    private static async Task ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(got));
            Assert.True(n > 0, "peer closed early");
            got += n;
        }
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer)) > 0)
        {
            all.Write(buffer, 0, n);
        }

        return all.ToArray();
    }
}
