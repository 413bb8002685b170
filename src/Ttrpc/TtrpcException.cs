namespace Spinbox.Ttrpc;

/// <summary>
/// A call's non-OK status. Thrown by a server handler to choose the status the client sees, and
/// thrown by <see cref="TtrpcClient.CallAsync{TResp}"/> when the server answered with an error or the
/// connection is gone (<see cref="TtrpcStatusCode.Unavailable"/>).
/// </summary>
public sealed class TtrpcException(TtrpcStatusCode code, string message) : Exception(message)
{
    public TtrpcStatusCode Code { get; } = code;

    public override string ToString() => $"ttrpc {Code}: {Message}";
}
