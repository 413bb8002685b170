using System.Net.Sockets;

namespace Spinbox.Ttrpc.Tests;

/// <summary>Runs a <see cref="TtrpcServer"/> on a fresh unix socket for one test.</summary>
internal sealed class UnixSocketServer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _listening;

    private UnixSocketServer(TtrpcServer server, string path)
    {
        Server = server;
        SocketPath = path;
        _listening = server.ListenUnixAsync(path, _stop.Token);
    }

    public TtrpcServer Server { get; }

    public string SocketPath { get; }

    public static async Task<UnixSocketServer> StartAsync(TtrpcServer server)
    {
        var instance = new UnixSocketServer(server, NewSocketPath());
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!File.Exists(instance.SocketPath))
        {
            if (instance._listening.IsCompleted)
            {
                await instance._listening; // surfaces the bind error
            }

            Assert.True(DateTime.UtcNow < deadline, "server socket did not appear within 5 s");
            await Task.Delay(5);
        }

        return instance;
    }

    public static string NewSocketPath() => Path.Combine(Path.GetTempPath(), $"ttrpc-test-{Guid.NewGuid():N}.sock");

    public Task<TtrpcClient> ConnectAsync() => TtrpcClient.ConnectUnixAsync(SocketPath);

    public async Task<Socket> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        return socket;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _listening.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(File.Exists(SocketPath), "the socket file should be removed when the listener stops");
        _stop.Dispose();
    }
}
