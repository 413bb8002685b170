namespace Spinbox.Vmm.Boot;

/// <summary>The processor mode a vCPU starts in.</summary>
public enum CpuMode
{
    /// <summary>16-bit real mode, all segments at 0: entry and stack must lie below 64 KiB.</summary>
    Real16,

    /// <summary>32-bit protected mode, flat 4 GiB segments, no paging.</summary>
    Protected32,

    /// <summary>64-bit long mode with the first 4 GiB identity-mapped (what Linux's 64-bit entry needs).</summary>
    Long64,
}
