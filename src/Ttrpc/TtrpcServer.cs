using System.Collections.Concurrent;
using System.Net.Sockets;
using Google.Protobuf;
using Spinbox.Ttrpc.Proto;

namespace Spinbox.Ttrpc;

/// <summary>
/// A ttrpc server for unary methods. Every request runs its handler concurrently (a blocking Wait must
/// not hold up other calls); responses are written one frame at a time under the connection's lock.
/// </summary>
public sealed class TtrpcServer
{
    private delegate Task<IMessage> UntypedHandler(ByteString payload, TtrpcCallContext context);

    private readonly ConcurrentDictionary<string, UntypedHandler> _handlers = new(StringComparer.Ordinal);

    /// <summary>Called with the error that ended a connection accepted by a listen loop (a protocol
    /// violation such as an oversized frame, or an I/O failure). The listen loop itself keeps going.</summary>
    public Action<Exception>? ConnectionError { get; set; }

    /// <summary>Registers (or replaces) the handler for <c>/service/method</c>, e.g. service
    /// "containerd.task.v2.Task", method "Create".</summary>
    public void Register<TReq, TResp>(string service, string method, MessageParser<TReq> parser, Func<TReq, TtrpcCallContext, Task<TResp>> handler)
        where TReq : IMessage<TReq>
        where TResp : IMessage
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(parser);
        ArgumentNullException.ThrowIfNull(handler);

        _handlers[Key(service, method)] = async (payload, context) =>
        {
            TReq request;
            try
            {
                request = parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new TtrpcException(TtrpcStatusCode.InvalidArgument, $"cannot decode {service}/{method} request: {e.Message}");
            }

            return await handler(request, context).ConfigureAwait(false);
        };
    }

    /// <summary>Serves one duplex connection until the peer closes it or <paramref name="ct"/> is cancelled
    /// (both return normally). In-flight handlers see their token cancelled when it ends.</summary>
    /// <exception cref="FrameTooLargeException">the peer sent a frame over 4 MiB; the connection is unusable.</exception>
    public async Task ServeAsync(Stream connection, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var channel = new FrameChannel(connection);
        // Not disposed: handlers still running after the connection ends link to its token.
        var connectionCts = new CancellationTokenSource();
        var connectionToken = connectionCts.Token;
        using var stopOnServerCancel = ct.Register(connectionCts.Cancel);
        var active = new ConcurrentDictionary<uint, byte>();
        try
        {
            while (true)
            {
                var frame = await channel.ReadFrameAsync(connectionToken).ConfigureAwait(false);
                if (frame is null)
                {
                    return;
                }

                var (header, data) = frame.Value;
                if (header.Type != MessageType.Request)
                {
                    // Only unary calls are served; stray data frames carry nothing we could route.
                    continue;
                }

                if (header.StreamId % 2 != 1 || !active.TryAdd(header.StreamId, 0))
                {
                    string why = header.StreamId % 2 != 1
                        ? $"stream id {header.StreamId} must be odd for client-initiated streams"
                        : $"stream id {header.StreamId} is already in use";
                    _ = WriteResponseAsync(channel, header.StreamId, ErrorResponse(TtrpcStatusCode.InvalidArgument, why));
                    continue;
                }

                _ = Task.Run(() => HandleRequestAsync(channel, header.StreamId, data, active, connectionToken), CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (connectionToken.IsCancellationRequested)
        {
        }
        catch (FrameTooLargeException e)
        {
            // Tell the caller why before hanging up; its reader may still be listening.
            await WriteResponseAsync(channel, e.StreamId, ErrorResponse(TtrpcStatusCode.ResourceExhausted, e.Message)).ConfigureAwait(false);
            throw;
        }
        finally
        {
            connectionCts.Cancel();
        }
    }

    /// <summary>Binds and listens on a unix socket (replacing a stale file at that path), then serves like
    /// <see cref="ListenAsync"/>. The socket file is removed when the loop ends.</summary>
    public async Task ListenUnixAsync(string socketPath, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        if (File.Exists(socketPath))
        {
            File.Delete(socketPath);
        }

        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(128);
        try
        {
            await ListenAsync(listener, ct).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                File.Delete(socketPath);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Accept loop over an already bound socket (listening is started if needed); each connection is
    /// served concurrently. Returns when <paramref name="ct"/> is cancelled, after open connections end.</summary>
    public async Task ListenAsync(Socket boundListeningSocket, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(boundListeningSocket);
        try
        {
            boundListeningSocket.Listen(128);
        }
        catch (SocketException)
        {
            // Already listening (or the caller set it up its own way); accept will tell us if it is unusable.
        }

        var connections = new ConcurrentDictionary<Task, byte>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                Socket accepted;
                try
                {
                    accepted = await boundListeningSocket.AcceptAsync(ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                var connection = ServeAcceptedAsync(accepted, ct);
                connections.TryAdd(connection, 0);
                _ = connection.ContinueWith(t => connections.TryRemove(t, out _), TaskScheduler.Default);
            }
        }
        finally
        {
            await Task.WhenAll(connections.Keys).ConfigureAwait(false);
        }
    }

    private async Task ServeAcceptedAsync(Socket socket, CancellationToken ct)
    {
        await Task.Yield();
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            await ServeAsync(stream, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            ConnectionError?.Invoke(e);
        }
    }

    private async Task HandleRequestAsync(FrameChannel channel, uint streamId, byte[] data, ConcurrentDictionary<uint, byte> active, CancellationToken connectionToken)
    {
        Response response;
        try
        {
            response = await InvokeAsync(data, connectionToken).ConfigureAwait(false);
        }
        finally
        {
            active.TryRemove(streamId, out _);
        }

        await WriteResponseAsync(channel, streamId, response).ConfigureAwait(false);
    }

    private async Task<Response> InvokeAsync(byte[] data, CancellationToken connectionToken)
    {
        Request request;
        try
        {
            request = Request.Parser.ParseFrom(data);
        }
        catch (InvalidProtocolBufferException e)
        {
            return ErrorResponse(TtrpcStatusCode.InvalidArgument, $"cannot decode ttrpc request: {e.Message}");
        }

        if (!_handlers.TryGetValue(Key(request.Service, request.Method), out var handler))
        {
            return ErrorResponse(TtrpcStatusCode.Unimplemented, $"/{request.Service}/{request.Method} is not implemented");
        }

        using var callCts = CancellationTokenSource.CreateLinkedTokenSource(connectionToken);
        if (request.TimeoutNano > 0)
        {
            callCts.CancelAfter(TimeSpan.FromTicks(Math.Max(1, request.TimeoutNano / 100)));
        }

        var context = new TtrpcCallContext(request.Service, request.Method, ToDictionary(request.Metadata), callCts.Token);
        try
        {
            IMessage result = await handler(request.Payload, context).ConfigureAwait(false);
            return new Response { Payload = result.ToByteString() };
        }
        catch (TtrpcException e)
        {
            return ErrorResponse(e.Code, e.Message);
        }
        catch (OperationCanceledException) when (callCts.IsCancellationRequested && !connectionToken.IsCancellationRequested)
        {
            return ErrorResponse(TtrpcStatusCode.DeadlineExceeded, $"/{request.Service}/{request.Method} exceeded its {TimeSpan.FromTicks(request.TimeoutNano / 100)} timeout");
        }
        catch (OperationCanceledException e)
        {
            return ErrorResponse(TtrpcStatusCode.Cancelled, e.Message);
        }
        catch (Exception e)
        {
            return ErrorResponse(TtrpcStatusCode.Unknown, e.Message);
        }
    }

    private static async Task WriteResponseAsync(FrameChannel channel, uint streamId, Response response)
    {
        byte[] bytes = response.ToByteArray();
        if (bytes.Length > FrameHeader.MaxDataLength)
        {
            bytes = ErrorResponse(TtrpcStatusCode.ResourceExhausted,
                $"response of {bytes.Length} bytes is over the {FrameHeader.MaxDataLength}-byte ttrpc maximum").ToByteArray();
        }

        try
        {
            // Never cancel a write half way: a torn frame would corrupt every later call on the connection.
            await channel.WriteFrameAsync(streamId, MessageType.Response, 0, bytes, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or NotSupportedException)
        {
            // The client is gone; nobody is left to tell.
        }
    }

    private static Response ErrorResponse(TtrpcStatusCode code, string message) =>
        new() { Status = new Google.Rpc.Status { Code = (int)code, Message = message } };

    private static Dictionary<string, string> ToDictionary(IEnumerable<KeyValue> metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in metadata)
        {
            result[pair.Key] = pair.Value;
        }

        return result;
    }

    private static string Key(string service, string method) => $"/{service}/{method}";
}
