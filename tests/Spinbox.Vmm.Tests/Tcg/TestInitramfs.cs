using System.Diagnostics;
using Xunit.Abstractions;

namespace Spinbox.Vmm.Tests.Tcg;

/// <summary>Builds a gzip'd newc initramfs holding a static busybox and the given /init script.</summary>
internal static class TestInitramfs
{
    public const string Busybox = "/bin/busybox";

    public static string Build(string workDirectory, string initScript)
    {
        string root = Path.Combine(workDirectory, "initramfs-root");
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        File.Copy(Busybox, Path.Combine(root, "bin", "busybox"));
        string init = Path.Combine(root, "init");
        File.WriteAllText(init, initScript.ReplaceLineEndings("\n"));
        File.SetUnixFileMode(init, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        string output = Path.Combine(workDirectory, "initramfs.cpio.gz");
        var psi = new ProcessStartInfo("bash", ["-c", $"cd '{root}' && find . | cpio -o -H newc --quiet | gzip -1 > '{output}'"])
        { UseShellExecute = false, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"building the initramfs failed: {err}");
        return output;
    }
}

/// <summary>Sends log lines to the xunit output (and keeps them for asserts).</summary>
internal sealed class TestOutputLogger(ITestOutputHelper output) : Microsoft.Extensions.Logging.ILogger
{
    public List<string> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        string line = $"{logLevel}: {formatter(state, exception)}{(exception != null ? " " + exception : "")}";
        lock (Lines) Lines.Add(line);
        try { output.WriteLine(line); } catch (InvalidOperationException) { } // test already finished
    }
}
