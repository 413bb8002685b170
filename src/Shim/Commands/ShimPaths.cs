using System.Security.Cryptography;
using System.Text;
using Spinbox.Shim.Config;

namespace Spinbox.Shim.Commands;

/// <summary>Where one container's shim keeps its socket, state and logs.</summary>
public sealed class ShimPaths(SpinboxConfig config, string ns, string id)
{
    /// <summary>The ttrpc socket containerd talks to. Hashed so it stays under the 108-byte sun_path limit.</summary>
    public string Socket
    {
        get
        {
            string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{config.StateDir}|{ns}|{id}")))[..20];
            return Path.Combine(config.StateDir, "s", hash + ".sock");
        }
    }

    /// <summary>Sockets, disk images and pid files; removed at delete.</summary>
    public string State => Path.Combine(config.StateDir, ns, id);

    /// <summary>Kept after delete, so a user can read what the VM printed.</summary>
    public string Logs => Path.Combine(config.LogDir, ns, id);

    public string ConsoleLog => Path.Combine(Logs, "console.log");
    public string SupervisorLog => Path.Combine(Logs, "supervisor.log");
    public string VmPidFile => Path.Combine(State, "vm.pid");
    public string RootfsMountRecord => Path.Combine(State, "rootfs.mounted");
}
