namespace Spinbox.Vmm.Boot;

/// <summary>A kernel placed in guest memory, ready for the 64-bit boot protocol entry.</summary>
/// <param name="Format">"bzImage" or "ELF vmlinux".</param>
/// <param name="Entry64">Guest-physical address of the 64-bit entry point.</param>
/// <param name="End">First guest-physical byte after the loaded image (and its decompression room).</param>
/// <param name="SetupHeader">The bzImage setup header to copy into boot_params (null for ELF).</param>
/// <param name="CmdlineLimit">Longest command line the kernel accepts, in bytes, without the NUL.</param>
/// <param name="InitrdAddressMax">Highest address the initrd's last byte may occupy.</param>
public sealed record LoadedKernel(
    string Format,
    ulong Entry64,
    ulong End,
    byte[]? SetupHeader,
    uint CmdlineLimit,
    ulong InitrdAddressMax);
