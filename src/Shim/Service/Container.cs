using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Spinbox.Shim.Commands;
using Spinbox.Shim.Rootfs;
using Spinbox.Shim.Vm;

namespace Spinbox.Shim.Service;

/// <summary>Everything one container owns on the host, released in reverse order of acquisition.</summary>
public sealed class Container(string id, string bundle, ShimPaths paths, ILogger logger) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ShimProcess> _execs = new();
    private uint _nextPort = 0x10000;
    private int _disposed;

    public string Id { get; } = id;
    public string Bundle { get; } = bundle;
    public Sandbox? Sandbox { get; set; }
    public ShimProcess Init { get; set; } = null!;
    public string? MountedRootfs { get; set; }
    public IDisposable? SupervisorLog { get; set; }

    /// <summary>Three consecutive host vsock ports for one process's stdin, stdout and stderr.</summary>
    public uint AllocateStdioPorts() => Interlocked.Add(ref _nextPort, 3) - 3;

    public ShimProcess? Find(string execId) =>
        execId.Length == 0 ? Init : _execs.TryGetValue(execId, out var p) ? p : null;

    public bool TryAddExec(ShimProcess p) => _execs.TryAdd(p.ExecId, p);

    public void RemoveExec(string execId) => _execs.TryRemove(execId, out _);

    public IEnumerable<ShimProcess> Execs => _execs.Values;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var p in _execs.Values) await p.Io.DisposeAsync();
        if (Init is not null) await Init.Io.DisposeAsync();
        SupervisorLog?.Dispose();
        if (Sandbox is not null)
        {
            await Sandbox.ShutdownAsync();
            await Sandbox.DisposeAsync();
        }
        if (MountedRootfs is not null)
        {
            RootfsMounter.Unmount(MountedRootfs);
            logger.LogDebug("unmounted {Rootfs}", MountedRootfs);
        }
        try { Directory.Delete(paths.State, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
