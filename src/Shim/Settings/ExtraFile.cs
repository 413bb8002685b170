using System.Text.Json;
using Spinbox.Shim.Service;

namespace Spinbox.Shim.Settings;

/// <summary>One entry of io.spin.extras.files: a host file copied into the VM at Destination with Mode.</summary>
public sealed record ExtraFile(string Destination, string Source, int Mode)
{
    /// <summary>Parses and checks the annotation; every error names the annotation and the entry.</summary>
    public static IReadOnlyList<ExtraFile> ParseAll(string? json)
    {
        if (json is null) return [];
        const string key = ContainerSettings.ExtrasFiles;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new SettingsException($"{key}: invalid JSON: {e.Message}"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new SettingsException($"{key}: must be a JSON object mapping destination paths to {{\"source\",\"mode\"}}");
        var files = new List<ExtraFile>();
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            string dest = entry.Name;
            string where = $"{key}: entry \"{dest}\"";
            if (!dest.StartsWith('/')) throw new SettingsException($"{where}: destination must be an absolute path");
            if (dest.Split('/').Any(p => p == "..") || dest.TrimEnd('/') != dest || dest.Contains('\0'))
                throw new SettingsException($"{where}: destination must be a normalized file path");
            if (entry.Value.ValueKind != JsonValueKind.Object) throw new SettingsException($"{where}: value must be an object with \"source\" and \"mode\"");
            if (!entry.Value.TryGetProperty("source", out var srcEl) || srcEl.ValueKind != JsonValueKind.String)
                throw new SettingsException($"{where}: \"source\" is missing or not a string");
            string source = srcEl.GetString()!;
            if (!source.StartsWith('/')) throw new SettingsException($"{where}: source \"{source}\" must be an absolute path");
            int mode = 420;
            if (entry.Value.TryGetProperty("mode", out var modeEl))
            {
                if (modeEl.ValueKind != JsonValueKind.Number || !modeEl.TryGetInt64(out long m))
                    throw new SettingsException($"{where}: \"mode\" must be an integer (decimal, e.g. 493 for 0755)");
                if (m < 0 || m > 4095) throw new SettingsException($"{where}: mode {m} is outside 0..4095");
                mode = (int)m;
            }
            CheckSource(where, source);
            files.Add(new ExtraFile(dest, source, mode));
        }
        return files;
    }

    private static void CheckSource(string where, string source)
    {
        var info = new FileInfo(source);
        if (!info.Exists)
            throw new SettingsException(Directory.Exists(source)
                ? $"{where}: source \"{source}\" is a directory, not a regular file"
                : $"{where}: source \"{source}\" does not exist");
        if (info.LinkTarget is not null && info.ResolveLinkTarget(true) is not FileInfo { Exists: true })
            throw new SettingsException($"{where}: source \"{source}\" is a dangling link");
        if (!Interop.Libc.IsRegularFile(source))
            throw new SettingsException($"{where}: source \"{source}\" is not a regular file");
        try { using var f = File.OpenRead(source); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new SettingsException($"{where}: source \"{source}\" is unreadable: {e.Message}");
        }
    }
}
