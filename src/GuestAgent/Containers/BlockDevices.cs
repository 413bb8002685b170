namespace Spinbox.GuestAgent.Containers;

/// <summary>Finds virtio-blk disks by the serial the host gave them.</summary>
internal static class BlockDevices
{
    /// <summary>/dev/vdX whose /sys/block/vdX/serial equals <paramref name="serial"/>, waiting up to
    /// <paramref name="patience"/> for the device to appear; null when none does.</summary>
    public static async Task<string?> FindBySerialAsync(string serial, TimeSpan patience, string sysBlock = "/sys/block", string dev = "/dev")
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            string? found = FindBySerial(serial, sysBlock, dev);
            if (found is not null && File.Exists(found))
            {
                return found;
            }

            if (DateTime.UtcNow >= deadline)
            {
                return null;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    public static string? FindBySerial(string serial, string sysBlock = "/sys/block", string dev = "/dev")
    {
        if (!Directory.Exists(sysBlock))
        {
            return null;
        }

        foreach (string block in Directory.EnumerateDirectories(sysBlock, "vd*"))
        {
            string serialFile = Path.Combine(block, "serial");
            try
            {
                if (File.ReadAllText(serialFile).Trim() == serial)
                {
                    return Path.Combine(dev, Path.GetFileName(block));
                }
            }
            catch (IOException)
            {
                // A disk without a serial attribute cannot be the one asked for.
            }
        }

        return null;
    }
}
