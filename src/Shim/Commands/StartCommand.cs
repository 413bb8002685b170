using System.Diagnostics;
using System.Net.Sockets;
using Spinbox.Shim.Config;

namespace Spinbox.Shim.Commands;

/// <summary>
/// `start`: spawn the long-lived shim (our own `serve` action) detached from containerd, wait until its
/// ttrpc socket accepts connections, print the address for containerd and exit.
/// </summary>
public static class StartCommand
{
    public static int Run(ShimArguments args)
    {
        var config = SpinboxConfig.Load();
        var paths = new ShimPaths(config, args.Address, args.Namespace, args.Id);
        Directory.CreateDirectory(Path.GetDirectoryName(paths.Socket)!);
        if (File.Exists(paths.Socket)) File.Delete(paths.Socket);

        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            UseShellExecute = false,
            // Our own pipes, not containerd's: containerd reads start's output until EOF.
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            WorkingDirectory = Directory.GetCurrentDirectory(),
        };
        foreach (var a in args.ToServeArgs(paths.Socket)) psi.ArgumentList.Add(a);
        using var child = Process.Start(psi) ?? throw new InvalidOperationException("could not start the shim daemon");
        var stderrTask = child.StandardError.ReadToEndAsync();

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (child.HasExited)
            {
                Console.Error.WriteLine($"spinbox shim exited during start (code {child.ExitCode}): {stderrTask.Result.Trim()}");
                return 1;
            }
            if (CanConnect(paths.Socket))
            {
                Console.Out.Write("unix://" + paths.Socket);
                Console.Out.Flush();
                return 0;
            }
            Thread.Sleep(5);
        }
        try { child.Kill(); } catch (InvalidOperationException) { }
        Console.Error.WriteLine($"spinbox shim did not listen on {paths.Socket} within 20s");
        return 1;
    }

    private static bool CanConnect(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException) { return false; }
    }
}
