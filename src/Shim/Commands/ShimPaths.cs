using System.Security.Cryptography;
using System.Text;
using Spinbox.Shim.Config;

namespace Spinbox.Shim.Commands;

/// <summary>
/// Where one container's shim keeps its socket, state and logs. Socket and state are keyed by the
/// containerd instance (its address) as well, since two containerds on one host may both run "default/c1".
/// </summary>
public sealed class ShimPaths(SpinboxConfig config, string containerdAddress, string ns, string id)
{
    private static string Hash(string s, int chars) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..chars];

    /// <summary>The ttrpc socket containerd talks to. Hashed so it stays under the 108-byte sun_path limit.</summary>
    public string Socket
    {
        get
        {
            return Path.Combine(config.StateDir, "s", Hash($"{config.StateDir}|{containerdAddress}|{ns}|{id}", 20) + ".sock");
        }
    }

    /// <summary>Sockets, disk images and pid files; removed at delete.</summary>
    public string State => Path.Combine(config.StateDir, Hash(containerdAddress, 12), ns, id);

    /// <summary>Kept after delete, so a user can read what the VM printed.</summary>
    public string Logs => Path.Combine(config.LogDir, ns, id);

    public string ConsoleLog => Path.Combine(Logs, "console.log");
    public string SupervisorLog => Path.Combine(Logs, "supervisor.log");
    public string VmPidFile => Path.Combine(State, "vm.pid");
    public string RootfsMountRecord => Path.Combine(State, "rootfs.mounted");
}
