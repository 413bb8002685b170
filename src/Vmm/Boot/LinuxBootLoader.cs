using System.Text;
using Spinbox.Vmm.Memory;

namespace Spinbox.Vmm.Boot;

/// <summary>
/// Prepares guest memory for Linux's 64-bit boot protocol: kernel, initrd at the top of low RAM, the
/// command line, boot_params with the e820 map, the MP table for the vCPUs, GDT and identity page tables.
/// </summary>
public static class LinuxBootLoader
{
    private const ulong PageSize = 4096;

    public static (BootPlan Plan, LinuxBootInfo Info) Load(GuestRam ram, string kernelPath, string? initrdPath, string cmdline, int vcpus)
    {
        var memory = ram.Memory;
        var kernel = KernelLoader.Load(kernelPath, memory, ram.LowRamEnd);

        byte[] cmdlineBytes = Encoding.UTF8.GetBytes(cmdline);
        if ((uint)cmdlineBytes.Length > kernel.CmdlineLimit)
            throw new BootImageException($"kernel command line is {cmdlineBytes.Length} bytes; kernel '{kernelPath}' accepts at most {kernel.CmdlineLimit}");
        if ((ulong)cmdlineBytes.Length >= GuestAddressMap.CmdlineMax)
            throw new BootImageException($"kernel command line is {cmdlineBytes.Length} bytes; at most {GuestAddressMap.CmdlineMax - 1} fit");
        memory.Write(GuestAddressMap.Cmdline, cmdlineBytes);
        memory.Write(GuestAddressMap.Cmdline + (ulong)cmdlineBytes.Length, (byte)0);

        (ulong initrdAddress, ulong initrdSize) = initrdPath is null ? (0UL, 0UL) : LoadInitrd(ram, kernel, initrdPath);

        var e820 = E820Map.For(ram);
        var zeroPageBytes = memory.GetSpan(GuestAddressMap.ZeroPage, ZeroPage.Size);
        zeroPageBytes.Clear();
        var zeroPage = new ZeroPage(zeroPageBytes);
        if (kernel.SetupHeader is not null)
        {
            zeroPage.SetSetupHeader(kernel.SetupHeader);
        }
        else
        {
            zeroPage.WriteU16(ZeroPage.BootFlag, ZeroPage.BootFlagMagic);
            zeroPage.WriteU32(ZeroPage.Header, ZeroPage.HeaderMagic);
            zeroPage.WriteU32(ZeroPage.KernelAlignment, 0x0100_0000);
            zeroPage.WriteU32(ZeroPage.CmdlineSize, kernel.CmdlineLimit + 1);
        }
        zeroPage.WriteU8(ZeroPage.TypeOfLoader, ZeroPage.LoaderUndefined);
        zeroPage.WriteU8(ZeroPage.LoadFlags, (byte)(zeroPage.ReadU8(ZeroPage.LoadFlags) | ZeroPage.CanUseHeap));
        zeroPage.WriteU16(ZeroPage.HeapEndPtr, 0xfe00);
        zeroPage.WriteU16(ZeroPage.VidMode, 0xffff); // "normal"
        zeroPage.SetCommandLine(GuestAddressMap.Cmdline);
        zeroPage.SetRamdisk(initrdAddress, initrdSize);
        zeroPage.SetE820(e820);

        memory.Write(GuestAddressMap.Ebda, MpTable.Build(vcpus));
        CpuModeSetup.WriteTables(memory, CpuMode.Long64);

        var plan = new BootPlan(CpuMode.Long64, kernel.Entry64, GuestAddressMap.BootStack, GuestAddressMap.ZeroPage, OnlyBootCpuStarts: true);
        return (plan, new LinuxBootInfo(kernel.Format, cmdline, e820, initrdAddress, initrdSize));
    }

    private static (ulong, ulong) LoadInitrd(GuestRam ram, LoadedKernel kernel, string path)
    {
        byte[] initrd = KernelLoader.ReadFile(path, "initrd");
        if (initrd.Length == 0) throw new BootImageException($"initrd '{path}': the file is empty");
        ulong top = Math.Min(ram.LowRamEnd, kernel.InitrdAddressMax + 1);
        ulong size = (ulong)initrd.Length;
        ulong lowest = (kernel.End + PageSize - 1) & ~(PageSize - 1);
        if (size > top || ((top - size) & ~(PageSize - 1)) < lowest)
            throw new BootImageException($"initrd '{path}' ({size} bytes) does not fit in guest memory between the kernel (ends 0x{kernel.End:x}) and 0x{top:x}");
        ulong address = (top - size) & ~(PageSize - 1);
        ram.Memory.Write(address, initrd);
        return (address, size);
    }
}
