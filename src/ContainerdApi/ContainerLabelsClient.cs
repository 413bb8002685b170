using System.Net.Sockets;
using Containerd.Services.Containers.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Spinbox.ContainerdApi;

/// <summary>Reads a container's labels from containerd's gRPC API (the main socket, not the ttrpc one).</summary>
public static class ContainerLabelsClient
{
    /// <summary>The gRPC metadata header containerd reads the namespace from.</summary>
    public const string NamespaceHeader = "containerd-namespace";

    /// <summary>Calls containerd.services.containers.v1.Containers/Get and returns the container's labels.</summary>
    /// <exception cref="RpcException">containerd answered with an error (e.g. NotFound) or could not be reached.</exception>
    public static async Task<IReadOnlyDictionary<string, string>> GetLabelsAsync(string containerdGrpcSocketPath, string @namespace, string containerId, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(containerdGrpcSocketPath);
        ArgumentException.ThrowIfNullOrEmpty(@namespace);
        ArgumentException.ThrowIfNullOrEmpty(containerId);

        using var channel = CreateUnixChannel(containerdGrpcSocketPath);
        var client = new Containers.ContainersClient(channel);
        var headers = new Metadata { { NamespaceHeader, @namespace } };
        var response = await client.GetAsync(new GetContainerRequest { Id = containerId }, headers, cancellationToken: ct).ConfigureAwait(false);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (response.Container is { } container)
        {
            foreach (var (key, value) in container.Labels)
            {
                labels[key] = value;
            }
        }

        return labels;
    }

    /// <summary>A gRPC channel whose every HTTP/2 connection goes to one unix socket.</summary>
    public static GrpcChannel CreateUnixChannel(string socketPath)
    {
        var endPoint = new UnixDomainSocketEndPoint(socketPath);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };

        // The authority is irrelevant over a unix socket; plain http selects h2c (prior knowledge) in Grpc.Net.Client.
        return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }
}
