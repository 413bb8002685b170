namespace Spinbox.Virtio.Memory;

/// <summary>One contiguous slice of guest RAM mapped into this process.</summary>
/// <param name="GuestPhysicalAddress">Where the guest sees it.</param>
/// <param name="Size">Length in bytes.</param>
/// <param name="HostAddress">Where this process mapped it.</param>
/// <param name="FrontEndAddress">The vhost-user front end's virtual address of the region (0 when unused).</param>
public readonly record struct GuestMemoryRegion(ulong GuestPhysicalAddress, ulong Size, nint HostAddress, ulong FrontEndAddress = 0)
{
    public ulong End => GuestPhysicalAddress + Size;

    public bool Contains(ulong gpa, ulong length) =>
        gpa >= GuestPhysicalAddress && length <= Size && gpa - GuestPhysicalAddress <= Size - length;
}
