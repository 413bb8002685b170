using Spinbox.GuestAgent.Containers;
using Spinbox.GuestAgent.Interop;
using Spinbox.GuestAgent.Logging;
using Spinbox.GuestAgent.Vsock;

namespace Spinbox.GuestAgent.Extras;

/// <summary>
/// Extracts the extras disk once per boot. The marker file (on /run, so a reboot clears it) lists the
/// files written, one per line, so later calls and containers know what was injected without reading
/// the disk again. A forced extraction (request flag or spin.extras_force=1) runs regardless.
/// </summary>
internal sealed class ExtrasService(string root = "/", string markerPath = ExtrasService.DefaultMarker)
{
    public const string DefaultMarker = "/run/spinbox/extras.extracted";
    private static readonly TimeSpan DiskPatience = TimeSpan.FromSeconds(5);

    private readonly object _gate = new();
    private List<string> _files = new();

    /// <summary>VM paths of the injected regular files (empty before any extraction).</summary>
    public IReadOnlyList<string> InjectedFiles
    {
        get
        {
            lock (_gate)
            {
                return _files.ToArray();
            }
        }
    }

    public static bool ShouldExtract(bool markerExists, bool forceRequested, bool forcedOnCmdline) =>
        !markerExists || forceRequested || forcedOnCmdline;

    /// <summary>Extracts from the archive <paramref name="openArchive"/> opens, unless this boot already
    /// did and nothing forces it. Returns true when it extracted.</summary>
    public bool ExtractIfNeeded(Func<Stream> openArchive, bool forceRequested, bool forcedOnCmdline)
    {
        lock (_gate)
        {
            if (!ShouldExtract(File.Exists(markerPath), forceRequested, forcedOnCmdline))
            {
                _files = ReadMarker();
                return false;
            }

            var files = TarExtractor.Extract(openArchive, root);
            Directory.CreateDirectory(Path.GetDirectoryName(markerPath)!);
            File.WriteAllLines(markerPath, files);
            _files = files;
            return true;
        }
    }

    /// <summary>Finds the disk by serial and extracts it (see <see cref="ExtractIfNeeded"/>).</summary>
    public async Task SetupFromDiskAsync(string serial, bool forceRequested, bool forcedOnCmdline)
    {
        string device = await BlockDevices.FindBySerialAsync(serial, DiskPatience).ConfigureAwait(false)
            ?? throw new FileNotFoundException($"extras disk with serial \"{serial}\" not found in /sys/block");
        var started = DateTime.UtcNow;
        bool extracted = ExtractIfNeeded(() => OpenDisk(device), forceRequested, forcedOnCmdline);
        AgentLog.Info(extracted
            ? $"extras: {InjectedFiles.Count} files from {device} in {(DateTime.UtcNow - started).TotalMilliseconds:F0} ms"
            : "extras: already extracted this boot");
    }

    /// <summary>A block device read with read(2): FileStream takes a block device's length from fstat,
    /// which is 0, and would report an empty archive.</summary>
    private static Stream OpenDisk(string device) =>
        new BufferedStream(new FdStream(Libc.Open(device, Libc.O_RDONLY | Libc.O_CLOEXEC)), 1 << 16);

    private List<string> ReadMarker()
    {
        try
        {
            return File.ReadAllLines(markerPath).Where(l => l.StartsWith('/')).ToList();
        }
        catch (IOException)
        {
            return new List<string>();
        }
    }
}
