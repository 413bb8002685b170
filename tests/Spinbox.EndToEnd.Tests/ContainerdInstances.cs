using System.Collections.Concurrent;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// Collection fixture: one private containerd per version, started on first use (so a filtered run
/// starts only what it needs), shared by every test of the collection and stopped at the end.
/// </summary>
public sealed class ContainerdInstances : IAsyncLifetime
{
    public static readonly string[] Versions = ["2.1", "1.7"];
    private readonly ConcurrentDictionary<string, Lazy<Task<PrivateContainerd>>> _instances = new();

    public Task<PrivateContainerd> Get(string series)
    {
        if (!Versions.Contains(series))
            throw new ArgumentException($"containerd series must be one of {string.Join(", ", Versions)}, not '{series}'", nameof(series));
        return _instances.GetOrAdd(series, s => new Lazy<Task<PrivateContainerd>>(() => PrivateContainerd.StartAsync(s, DirFor(s)))).Value;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var lazy in _instances.Values)
        {
            PrivateContainerd instance;
            try { instance = await lazy.Value; } catch (Exception) { continue; } // start failed: nothing to stop
            await instance.DisposeAsync();
        }
    }

    // Short and per test run: a unix socket path must stay under 108 bytes.
    private static string DirFor(string series) => $"/tmp/spinbox-e2e-{series}-{Environment.ProcessId}";
}

[CollectionDefinition(Name)]
public sealed class ContainerdCollection : ICollectionFixture<ContainerdInstances>
{
    public const string Name = "private containerd";
}
