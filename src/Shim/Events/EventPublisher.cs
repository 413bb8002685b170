using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging;
using Spinbox.Ttrpc;

namespace Spinbox.Shim.Events;

/// <summary>
/// Forwards task events to containerd over its ttrpc socket (containerd.services.events.ttrpc.v1.Events/Forward),
/// one at a time and in order, as the runc shim does.
/// </summary>
public sealed class EventPublisher : IDisposable
{
    private const string Service = "containerd.services.events.ttrpc.v1.Events";
    private readonly string _address;
    private readonly string _namespace;
    private readonly ILogger _logger;
    private readonly Channel<(string Topic, IMessage Event)> _queue = Channel.CreateUnbounded<(string, IMessage)>();
    private readonly Task _pump;
    private TtrpcClient? _client;

    public EventPublisher(string ttrpcAddress, string ns, ILogger logger)
    {
        _address = ttrpcAddress.StartsWith("unix://") ? ttrpcAddress["unix://".Length..] : ttrpcAddress;
        _namespace = ns;
        _logger = logger;
        _pump = Task.Run(PumpAsync);
    }

    public void Publish(string topic, IMessage ev) => _queue.Writer.TryWrite((topic, ev));

    private async Task PumpAsync()
    {
        await foreach (var (topic, ev) in _queue.Reader.ReadAllAsync())
        {
            var request = new Containerd.Services.Events.Ttrpc.V1.ForwardRequest
            {
                Envelope = new Containerd.Types.Envelope
                {
                    Timestamp = Timestamp.FromDateTime(DateTime.UtcNow),
                    Namespace = _namespace,
                    Topic = topic,
                    Event = new Any { TypeUrl = ev.Descriptor.FullName, Value = ev.ToByteString() },
                },
            };
            for (int attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    _client ??= await TtrpcClient.ConnectUnixAsync(_address);
                    await _client.CallAsync(Service, "Forward", request, Empty.Parser, timeout: TimeSpan.FromSeconds(5));
                    break;
                }
                catch (Exception e)
                {
                    _logger.LogWarning("publishing {Topic} failed (attempt {N}): {Error}", topic, attempt + 1, e.Message);
                    if (_client is not null) { await _client.DisposeAsync(); _client = null; }
                    await Task.Delay(100);
                }
            }
        }
    }

    /// <summary>Waits for queued events to be sent (used on shutdown).</summary>
    public void Flush(TimeSpan timeout)
    {
        _queue.Writer.TryComplete();
        _pump.Wait(timeout);
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _client?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(1));
    }
}
