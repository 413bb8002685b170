namespace Spinbox.Shim.Service;

/// <summary>A user setting (annotation, label, config) is wrong; the message names it and says why.</summary>
public sealed class SettingsException(string message) : Exception(message);
