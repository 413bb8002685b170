using System.Text;
using System.Text.Json;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// A temp folder of host files for io.spin.extras.files, removed at dispose, and the annotation's JSON.
/// Each folder's files carry a fresh token, so a test's first run never finds a tar cached by an earlier run.
/// </summary>
public sealed class HostFiles : IDisposable
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("spinbox-e2e-files-").FullName;

    /// <summary>Unique to this folder; put it in file contents to make them unique too.</summary>
    public string Token { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Writes NAME in the folder (host mode 0644: the VM's mode must come from the annotation) and returns its path.</summary>
    public string Write(string name, string content)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return path;
    }

    /// <summary>A shell script: "#!/bin/sh", the token as a comment, then the body.</summary>
    public string Script(string name, string body) => Write(name, $"#!/bin/sh\n# {Token}\n{body}\n");

    /// <summary>{"DEST":{"source":"SRC","mode":MODE},...}</summary>
    public static string ExtrasJson(params (string Destination, string Source, int Mode)[] files)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var f in files)
            {
                json.WriteStartObject(f.Destination);
                json.WriteString("source", f.Source);
                json.WriteNumber("mode", f.Mode);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { /* best effort: a temp folder */ }
    }
}
