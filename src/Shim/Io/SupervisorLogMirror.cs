using Microsoft.Extensions.Logging;
using Spinbox.Virtio.Devices.Vsock;

namespace Spinbox.Shim.Io;

/// <summary>
/// Receives the guest's /var/log/spin-supervisor.log over vsock and appends it to the container's
/// supervisor.log on the host, since the VM's own filesystem is not reachable from `ctr task exec`.
/// </summary>
public sealed class SupervisorLogMirror : IDisposable
{
    private readonly IDisposable _listener;

    public SupervisorLogMirror(VirtioVsockDevice vsock, uint port, string hostPath, ILogger logger)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(hostPath)!);
        File.WriteAllBytes(hostPath, []);
        _listener = vsock.Listen(port, stream => _ = Task.Run(async () =>
        {
            try
            {
                await using var file = new FileStream(hostPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, 1, true);
                var buffer = new byte[16 * 1024];
                int n;
                while ((n = await stream.ReadAsync(buffer)) > 0)
                {
                    await file.WriteAsync(buffer.AsMemory(0, n));
                    await file.FlushAsync();
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                logger.LogDebug("supervisor log mirror ended: {Error}", e.Message);
            }
            finally { await stream.DisposeAsync(); }
        }));
    }

    public void Dispose() => _listener.Dispose();
}
