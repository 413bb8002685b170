using System.Buffers.Binary;
using System.Text;
using Spinbox.Vmm.Boot;
using Spinbox.Vmm.Memory;
using Spinbox.Vmm.Tests.Tcg;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>What the Linux loader leaves in guest memory, for the project's real kernel files (no KVM needed).</summary>
public sealed class LinuxBootLoaderTests
{
    private const string Cmdline = "console=ttyS0 spinbox.test=1";

    private static string KernelFile(string name) => Path.Combine(Path.GetDirectoryName(GuestKernel.Vmlinux!)!, name);

    [GuestKernelFact]
    public void BzImage_is_loaded_at_1_mib_with_its_setup_header_and_the_64_bit_entry()
    {
        string path = KernelFile("bzImage");
        byte[] file = File.ReadAllBytes(path);
        using var dir = new TempDir();
        string initrdPath = dir.File("initrd");
        byte[] initrd = Encoding.ASCII.GetBytes(new string('i', 10000));
        File.WriteAllBytes(initrdPath, initrd);
        using var ram = GuestRam.Create("loader-test", 128UL << 20);

        var (plan, info) = LinuxBootLoader.Load(ram, path, initrdPath, Cmdline, vcpus: 2);

        int setupSects = file[ZeroPage.SetupSects];
        int kernelOffset = (setupSects + 1) * 512;
        Assert.Equal("bzImage", info.KernelFormat);
        Assert.Equal(CpuMode.Long64, plan.Mode);
        Assert.Equal(0x100200UL, plan.Entry);
        Assert.Equal(GuestAddressMap.ZeroPage, plan.Rsi);
        Assert.True(ram.Memory.GetSpan(0x100000, 4096).SequenceEqual(file.AsSpan(kernelOffset, 4096)));

        var zp = ram.Memory.GetSpan(GuestAddressMap.ZeroPage, ZeroPage.Size);
        Assert.Equal(ZeroPage.HeaderMagic, BinaryPrimitives.ReadUInt32LittleEndian(zp[ZeroPage.Header..]));
        Assert.Equal(BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(ZeroPage.Version)), BinaryPrimitives.ReadUInt16LittleEndian(zp[ZeroPage.Version..]));
        Assert.Equal(0xff, zp[ZeroPage.TypeOfLoader]);
        Assert.Equal(0, zp[ZeroPage.Sentinel]);
        AssertCommonBootParams(ram, zp, info);

        Assert.Equal((ulong)initrd.Length, info.InitrdSize);
        Assert.Equal(0UL, info.InitrdAddress % 4096);
        Assert.True(info.InitrdAddress + info.InitrdSize <= ram.LowRamEnd);
        Assert.Equal((uint)info.InitrdAddress, BinaryPrimitives.ReadUInt32LittleEndian(zp[ZeroPage.RamdiskImage..]));
        Assert.Equal((uint)initrd.Length, BinaryPrimitives.ReadUInt32LittleEndian(zp[ZeroPage.RamdiskSize..]));
        Assert.True(ram.Memory.GetSpan(info.InitrdAddress, initrd.Length).SequenceEqual(initrd));
    }

    [GuestKernelFact]
    public void Elf_vmlinux_segments_are_loaded_at_their_physical_addresses()
    {
        string path = KernelFile("vmlinux");
        using var ram = GuestRam.Create("loader-test", 128UL << 20);

        var (plan, info) = LinuxBootLoader.Load(ram, path, null, Cmdline, vcpus: 1);

        Assert.Equal("ELF vmlinux", info.KernelFormat);
        byte[] file = File.ReadAllBytes(path);
        ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(24));
        Assert.Equal(entry, plan.Entry);
        var zp = ram.Memory.GetSpan(GuestAddressMap.ZeroPage, ZeroPage.Size);
        Assert.Equal(ZeroPage.BootFlagMagic, BinaryPrimitives.ReadUInt16LittleEndian(zp[ZeroPage.BootFlag..]));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(zp[ZeroPage.RamdiskSize..]));
        AssertCommonBootParams(ram, zp, info);
    }

    private static void AssertCommonBootParams(GuestRam ram, Span<byte> zp, LinuxBootInfo info)
    {
        Assert.Equal((uint)GuestAddressMap.Cmdline, BinaryPrimitives.ReadUInt32LittleEndian(zp[ZeroPage.CmdLinePtr..]));
        Assert.Equal(Cmdline + "\0", Encoding.ASCII.GetString(ram.Memory.GetSpan(GuestAddressMap.Cmdline, Cmdline.Length + 1)));
        Assert.Equal(Cmdline, info.Cmdline);
        Assert.Equal(info.E820.Count, zp[ZeroPage.E820Entries]);
        for (int i = 0; i < info.E820.Count; i++)
        {
            var entry = zp.Slice(ZeroPage.E820Table + i * ZeroPage.E820EntrySize, ZeroPage.E820EntrySize);
            Assert.Equal(info.E820[i].Address, BinaryPrimitives.ReadUInt64LittleEndian(entry));
            Assert.Equal(info.E820[i].Size, BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]));
            Assert.Equal((uint)info.E820[i].Type, BinaryPrimitives.ReadUInt32LittleEndian(entry[16..]));
        }
        Assert.Equal("_MP_", Encoding.ASCII.GetString(ram.Memory.GetSpan(GuestAddressMap.Ebda, 4)));
        // Identity map: PML4[0] -> PDPT, PDPT[3] -> the fourth page directory, whose last entry maps 4 GiB - 2 MiB.
        Assert.Equal(GuestAddressMap.Pdpt | 3, ram.Memory.Read<ulong>(GuestAddressMap.Pml4));
        Assert.Equal((GuestAddressMap.PageDirectories + 0x3000) | 3, ram.Memory.Read<ulong>(GuestAddressMap.Pdpt + 24));
        Assert.Equal(0xffe0_0000UL | 0x83, ram.Memory.Read<ulong>(GuestAddressMap.PageDirectories + 0x3000 + 511 * 8));
    }

    [GuestKernelFact]
    public void Kernel_that_does_not_fit_in_guest_memory_is_named()
    {
        string path = KernelFile("vmlinux");
        using var ram = GuestRam.Create("loader-test", 8UL << 20);
        var e = Assert.Throws<BootImageException>(() => LinuxBootLoader.Load(ram, path, null, Cmdline, 1));
        Assert.Contains($"kernel image '{path}'", e.Message);
        Assert.Contains("does not fit in guest memory", e.Message);
    }
}

/// <summary>A [Fact] that needs the guest kernel files (not KVM).</summary>
public sealed class GuestKernelFactAttribute : FactAttribute
{
    public GuestKernelFactAttribute()
    {
        if (GuestKernel.Vmlinux is null) Skip = GuestKernel.SkipReason;
    }
}
