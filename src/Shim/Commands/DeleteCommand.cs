using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Spinbox.Shim.Config;
using Spinbox.Shim.Service;

namespace Spinbox.Shim.Commands;

/// <summary>
/// `delete`: containerd runs this when the shim died without cleaning up. Kill a VM left running,
/// undo the rootfs mount, drop the state folder, and answer a DeleteResponse (protobuf on stdout).
/// </summary>
public static class DeleteCommand
{
    public static int Run(ShimArguments args)
    {
        var config = SpinboxConfig.Load();
        var paths = new ShimPaths(config, args.Address, args.Namespace, args.Id);
        string bundle = args.Bundle ?? Directory.GetCurrentDirectory();
        LeftoverCleaner.Clean(paths, bundle);
        var response = new Containerd.Task.V2.DeleteResponse
        {
            ExitStatus = 128 + 9, // SIGKILL, as runc's shim reports for a task it could not wait on
            ExitedAt = Timestamp.FromDateTime(DateTime.UtcNow),
        };
        using var stdout = Console.OpenStandardOutput();
        response.WriteTo(stdout);
        return 0;
    }
}
