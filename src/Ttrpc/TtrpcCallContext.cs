namespace Spinbox.Ttrpc;

/// <summary>What a server handler knows about the call besides its request message.</summary>
public sealed class TtrpcCallContext
{
    internal TtrpcCallContext(string service, string method, IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken)
    {
        Service = service;
        Method = method;
        Metadata = metadata;
        CancellationToken = cancellationToken;
    }

    public string Service { get; }

    public string Method { get; }

    /// <summary>Request metadata (keys compared case-insensitively; for a repeated key the last value wins).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Cancelled when the request's timeout expires, the connection closes or the server stops.</summary>
    public CancellationToken CancellationToken { get; }
}
