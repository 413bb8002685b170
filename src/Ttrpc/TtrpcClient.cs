using System.Collections.Concurrent;
using System.Net.Sockets;
using Google.Protobuf;
using Spinbox.Ttrpc.Proto;

namespace Spinbox.Ttrpc;

/// <summary>
/// A ttrpc client for unary calls over one connection. Calls may be issued concurrently; each gets the
/// next odd stream id and its response is matched by id, in whatever order the server answers.
/// </summary>
public sealed class TtrpcClient : IAsyncDisposable
{
    private readonly Stream _connection;
    private readonly FrameChannel _channel;
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<Response>> _pending = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _readLoop;
    private long _nextStreamId = -1; // first Interlocked.Add(2) yields 1
    private volatile string? _closedReason;
    private int _disposed;

    public TtrpcClient(Stream connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
        _channel = new FrameChannel(connection);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Completes (never faults) when the connection has closed; pending and later calls then fail
    /// with <see cref="TtrpcStatusCode.Unavailable"/>.</summary>
    public Task Completion => _readLoop;

    public static async Task<TtrpcClient> ConnectUnixAsync(string socketPath, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new TtrpcClient(new NetworkStream(socket, ownsSocket: true));
    }

    /// <summary>Calls <c>/service/method</c>. Throws <see cref="TtrpcException"/> with the server's status,
    /// or Unavailable if the connection closes first, or DeadlineExceeded when <paramref name="timeout"/>
    /// (also sent to the server) passes; cancelling <paramref name="ct"/> fails only this call, locally.</summary>
    public async Task<TResp> CallAsync<TResp>(string service, string method, IMessage request, MessageParser<TResp> parser,
        CancellationToken ct = default, IReadOnlyDictionary<string, string>? metadata = null, TimeSpan? timeout = null)
        where TResp : IMessage<TResp>
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(parser);
        ct.ThrowIfCancellationRequested();
        ThrowIfClosed();

        var envelope = new Request { Service = service, Method = method, Payload = request.ToByteString() };
        if (timeout is { } t && t > TimeSpan.Zero)
        {
            envelope.TimeoutNano = (long)Math.Min(t.Ticks * 100.0, long.MaxValue);
        }

        if (metadata is not null)
        {
            foreach (var (key, value) in metadata)
            {
                envelope.Metadata.Add(new KeyValue { Key = key, Value = value });
            }
        }

        byte[] frame = envelope.ToByteArray();
        if (frame.Length > FrameHeader.MaxDataLength)
        {
            throw new TtrpcException(TtrpcStatusCode.ResourceExhausted,
                $"/{service}/{method} request is {frame.Length} bytes, over the {FrameHeader.MaxDataLength}-byte ttrpc maximum");
        }

        uint streamId = (uint)Interlocked.Add(ref _nextStreamId, 2);
        var completion = new TaskCompletionSource<Response>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[streamId] = completion;
        // Re-check after registering: a close racing with us may have drained the table already.
        if (_closedReason is not null)
        {
            _pending.TryRemove(streamId, out _);
            ThrowIfClosed();
        }

        using var deadline = timeout is { } d && d > TimeSpan.Zero ? new CancellationTokenSource(d) : null;
        using var onCancel = ct.Register(() => Abandon(streamId, completion, new OperationCanceledException(ct)));
        using var onDeadline = deadline?.Token.Register(() => Abandon(streamId, completion,
            new TtrpcException(TtrpcStatusCode.DeadlineExceeded, $"/{service}/{method} did not answer within {timeout}")));

        try
        {
            // Not cancellable: a half-written frame would corrupt the connection for every other call.
            await _channel.WriteFrameAsync(streamId, MessageType.Request, 0, frame, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or NotSupportedException)
        {
            _pending.TryRemove(streamId, out _);
            throw new TtrpcException(TtrpcStatusCode.Unavailable, $"/{service}/{method}: cannot send on the ttrpc connection: {e.Message}");
        }

        Response response = await completion.Task.ConfigureAwait(false);
        if (response.Status is { Code: not 0 } status)
        {
            throw new TtrpcException((TtrpcStatusCode)status.Code, status.Message);
        }

        try
        {
            return parser.ParseFrom(response.Payload);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new TtrpcException(TtrpcStatusCode.DataLoss, $"cannot decode /{service}/{method} response: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _closing.Cancel();
        await _connection.DisposeAsync().ConfigureAwait(false);
        await _readLoop.ConfigureAwait(false);
    }

    private void Abandon(uint streamId, TaskCompletionSource<Response> completion, Exception reason)
    {
        if (_pending.TryRemove(streamId, out _))
        {
            completion.TrySetException(reason);
        }
    }

    private async Task ReadLoopAsync()
    {
        string reason = "the ttrpc connection was closed by the peer";
        try
        {
            while (true)
            {
                var frame = await _channel.ReadFrameAsync(_closing.Token).ConfigureAwait(false);
                if (frame is null)
                {
                    break;
                }

                var (header, data) = frame.Value;
                if (header.Type != MessageType.Response || !_pending.TryRemove(header.StreamId, out var completion))
                {
                    continue; // data frames are not used by unary calls; unknown ids belong to abandoned calls
                }

                try
                {
                    completion.TrySetResult(Response.Parser.ParseFrom(data));
                }
                catch (InvalidProtocolBufferException e)
                {
                    completion.TrySetException(new TtrpcException(TtrpcStatusCode.DataLoss, $"cannot decode ttrpc response: {e.Message}"));
                }
            }
        }
        catch (OperationCanceledException)
        {
            reason = "the ttrpc client was disposed";
        }
        catch (Exception e)
        {
            // Any failure ends the connection; Completion still completes normally.
            reason = _closing.IsCancellationRequested ? "the ttrpc client was disposed" : $"the ttrpc connection failed: {e.Message}";
        }
        finally
        {
            _closedReason = reason;
            foreach (var streamId in _pending.Keys)
            {
                if (_pending.TryRemove(streamId, out var completion))
                {
                    completion.TrySetException(new TtrpcException(TtrpcStatusCode.Unavailable, reason));
                }
            }
        }
    }

    private void ThrowIfClosed()
    {
        if (_closedReason is { } reason)
        {
            throw new TtrpcException(TtrpcStatusCode.Unavailable, reason);
        }
    }
}
