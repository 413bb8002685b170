namespace Spinbox.GuestAgent.Containers;

/// <summary>A crun command failed; the message carries crun's own error text.</summary>
internal sealed class CrunException(string message) : Exception(message);
