using System.Text.Json.Nodes;
using Containerd.Task.V2;
using Microsoft.Extensions.Logging;
using Spinbox.Agent.V1;
using Spinbox.ContainerdApi;
using Spinbox.Shim.Commands;
using Spinbox.Shim.Config;
using Spinbox.Shim.Settings;
using Spinbox.Shim.Vm;

namespace Spinbox.Shim.Service;

/// <summary>
/// Everything decided before the VM boots: the spec, the merged settings, the VM's size and backend,
/// extra disks and the guest setup. All validation happens here, before anything is created.
/// </summary>
public sealed class ContainerPlan
{
    public const string ExtrasSerial = "extras";
    public const uint SupervisorLogPort = 1025;

    public required byte[] SpecJson { get; init; }
    public required JsonNode? Spec { get; init; }

    /// <summary>Paths the agent will bind into the container (extras outside /run/spin-stack/).</summary>
    public required IReadOnlySet<string> InjectedIntoContainer { get; init; }
    public required int Vcpus { get; init; }
    public required ulong MemoryBytes { get; init; }
    public required string KernelArgs { get; init; }
    public required string Backend { get; init; }
    public required IReadOnlyList<DiskSpec> ExtraDisks { get; init; }
    public SetupGuestRequest? Setup { get; init; }

    public static async Task<ContainerPlan> LoadAsync(CreateTaskRequest r, ShimArguments args, SpinboxConfig config, ILogger logger)
    {
        string specPath = Path.Combine(r.Bundle, "config.json");
        byte[] specJson = await File.ReadAllBytesAsync(specPath);
        JsonNode? spec;
        try { spec = JsonNode.Parse(specJson); }
        catch (System.Text.Json.JsonException e) { throw new SettingsException($"{specPath}: invalid JSON: {e.Message}"); }

        var labels = await ReadLabelsAsync(args, r.Id, logger);
        var settings = ContainerSettings.Merge(spec, labels);

        var extras = ExtraFile.ParseAll(settings.Get(ContainerSettings.ExtrasFiles));
        var supervisor = SupervisorSettings.Parse(settings, extras);
        string backend = settings.Get(ContainerSettings.VmBackend) ?? config.Backend;
        if (backend is not ("auto" or "kvm" or "tcg"))
            throw new SettingsException($"{ContainerSettings.VmBackend}: \"{backend}\" is not one of auto, kvm, tcg");
        string kernelArgs = settings.Get(ContainerSettings.VmKernelArgs) ?? "";
        if (kernelArgs.Any(char.IsControl))
            throw new SettingsException($"{ContainerSettings.VmKernelArgs}: must not contain control characters");

        var disks = new List<DiskSpec>();
        SetupGuestRequest? setup = null;
        if (extras.Count > 0 || supervisor is not null)
        {
            setup = new SetupGuestRequest { ForceExtract = false };
            if (extras.Count > 0)
            {
                var (tar, _) = ExtrasArchive.GetOrBuild(extras, config.CacheDir, logger);
                disks.Add(new DiskSpec(tar, ExtrasSerial, ReadOnly: true));
                setup.ExtrasDiskSerial = ExtrasSerial;
            }
            if (supervisor is not null)
            {
                setup.Supervisor = supervisor;
                setup.SupervisorLogPort = SupervisorLogPort;
            }
        }

        var (vcpus, memory) = Size(spec, config, logger);
        return new ContainerPlan
        {
            SpecJson = specJson, Spec = spec,
            InjectedIntoContainer = extras.Select(f => f.Destination).Where(d => !d.StartsWith("/run/spin-stack/")).ToHashSet(),
            Vcpus = vcpus, MemoryBytes = memory, KernelArgs = kernelArgs, Backend = backend,
            ExtraDisks = disks, Setup = setup,
        };
    }

    private static async Task<IReadOnlyDictionary<string, string>> ReadLabelsAsync(ShimArguments args, string id, ILogger logger)
    {
        if (args.Address.Length == 0) return new Dictionary<string, string>();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            string socket = args.Address.StartsWith("unix://") ? args.Address["unix://".Length..] : args.Address;
            return await ContainerLabelsClient.GetLabelsAsync(socket, args.Namespace, id, cts.Token);
        }
        catch (Exception e)
        {
            logger.LogWarning("could not read labels of container {Id} from containerd at {Address}: {Error}; using annotations only", id, args.Address, e.Message);
            return new Dictionary<string, string>();
        }
    }

    /// <summary>
    /// vCPUs from the CPU quota (rounded up), memory from the limit plus room for the guest kernel and agent,
    /// but never more RAM than the host has: a cgroup limit is only a cap, while a VM's RAM is its size.
    /// </summary>
    private static (int Vcpus, ulong Memory) Size(JsonNode? spec, SpinboxConfig config, ILogger logger)
    {
        var resources = spec?["linux"]?["resources"];
        long quota = (long?)resources?["cpu"]?["quota"] ?? 0, period = (long?)resources?["cpu"]?["period"] ?? 0;
        long limit = (long?)resources?["memory"]?["limit"] ?? 0;
        var sizing = Spinbox.Vmm.VmSizing.FromOciResources(quota > 0 ? quota : null, period > 0 ? period : null,
            limit > 0 ? limit : null, config.Vcpus, (ulong)config.MemoryMib * 1024 * 1024);
        ulong memory = sizing.MemoryBytes;
        if (limit >= 1L << 40)
            logger.LogWarning("memory limit {Limit} bytes is 1 TiB or more: the VM gets the default {Default} MiB", limit, config.MemoryMib);
        ulong host = HostMemoryBytes();
        if (host > 0 && memory > host)
        {
            ulong clamped = host / (2UL << 20) * (2UL << 20);
            logger.LogWarning("VM memory {Wanted} MiB (memory limit + guest overhead) exceeds the host's {Host} MiB; using {Clamped} MiB",
                memory >> 20, host >> 20, clamped >> 20);
            memory = clamped;
        }
        return (sizing.Vcpus, memory);
    }

    private static ulong HostMemoryBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemTotal:") && ulong.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out ulong kib))
                    return kib * 1024;
        }
        catch (IOException) { }
        return 0;
    }
}
