using Spinbox.Vmm.Boot;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>A kernel or initrd the VM cannot use fails Start with an error naming the file and the problem.</summary>
public sealed class BadBootInputTests
{
    private static void AssertStartFails(KvmVmConfig config, params string[] expectedParts)
    {
        using var vm = new KvmVm(config);
        var e = Assert.Throws<BootImageException>(vm.Start);
        foreach (string part in expectedParts) Assert.Contains(part, e.Message);
        Assert.Equal(0, vm.LiveThreadCount);
    }

    [KvmFact]
    public void Missing_kernel_is_named()
    {
        using var dir = new TempDir();
        string path = dir.File("no-such-vmlinux");
        AssertStartFails(new KvmVmConfig { KernelPath = path, MemoryBytes = 64UL << 20 }, $"kernel image '{path}'", "file not found");
    }

    [KvmFact]
    public void Kernel_that_is_neither_elf_nor_bzimage_is_named()
    {
        using var dir = new TempDir();
        string path = dir.File("garbage-kernel");
        var junk = new byte[8192];
        new Random(7).NextBytes(junk);
        File.WriteAllBytes(path, junk);
        AssertStartFails(new KvmVmConfig { KernelPath = path, MemoryBytes = 64UL << 20 },
            $"kernel image '{path}'", "neither an ELF vmlinux", "nor a bzImage");
    }

    [KvmFact]
    public void Truncated_elf_kernel_is_named()
    {
        using var dir = new TempDir();
        string path = dir.File("truncated-vmlinux");
        File.WriteAllBytes(path, [0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0]);
        AssertStartFails(new KvmVmConfig { KernelPath = path, MemoryBytes = 64UL << 20 }, $"kernel image '{path}'", "ELF header is truncated");
    }

    [KvmFact]
    public void BzImage_with_an_old_boot_protocol_is_named()
    {
        using var dir = new TempDir();
        string path = dir.File("old-bzImage");
        var image = new byte[64 * 1024];
        image[ZeroPage.SetupSects] = 4;
        BitConverter.GetBytes(ZeroPage.BootFlagMagic).CopyTo(image, ZeroPage.BootFlag);
        BitConverter.GetBytes(ZeroPage.HeaderMagic).CopyTo(image, ZeroPage.Header);
        BitConverter.GetBytes((ushort)0x0204).CopyTo(image, ZeroPage.Version);
        File.WriteAllBytes(path, image);
        AssertStartFails(new KvmVmConfig { KernelPath = path, MemoryBytes = 64UL << 20 },
            $"kernel image '{path}'", "boot protocol 2.4 is older than 2.10");
    }

    [KvmFact]
    public void Missing_initrd_is_named()
    {
        using var dir = new TempDir();
        string kernel = dir.File("vmlinux"), initrd = dir.File("no-such-initrd");
        File.WriteAllBytes(kernel, MinimalElfKernel());
        AssertStartFails(new KvmVmConfig { KernelPath = kernel, InitrdPath = initrd, MemoryBytes = 64UL << 20 },
            $"initrd '{initrd}'", "file not found");
    }

    [KvmFact]
    public void Command_line_longer_than_the_kernel_accepts_is_refused()
    {
        using var dir = new TempDir();
        string kernel = dir.File("vmlinux");
        File.WriteAllBytes(kernel, MinimalElfKernel());
        AssertStartFails(new KvmVmConfig { KernelPath = kernel, Cmdline = new string('x', 3000), MemoryBytes = 64UL << 20 },
            "kernel command line is 3000 bytes", $"kernel '{kernel}' accepts at most 2047");
    }

    [Fact]
    public void Config_without_a_kernel_names_the_field()
    {
        var e = Assert.Throws<ArgumentException>(() => new KvmVm(new KvmVmConfig()));
        Assert.Contains("KvmVmConfig.KernelPath is required", e.Message);
    }

    [Fact]
    public void Config_with_zero_vcpus_names_the_field()
    {
        var e = Assert.Throws<ArgumentException>(() => new KvmVm(new KvmVmConfig { KernelPath = "/k", Vcpus = 0 }));
        Assert.Contains("KvmVmConfig.Vcpus is 0", e.Message);
    }

    /// <summary>An ELF64 x86-64 file with one PT_LOAD segment (a single hlt) at 16 MiB.</summary>
    internal static byte[] MinimalElfKernel()
    {
        var elf = new byte[0x1000 + 16];
        var s = elf.AsSpan();
        s[0] = 0x7f; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F';
        s[4] = 2; s[5] = 1; s[6] = 1;
        BitConverter.GetBytes((ushort)2).CopyTo(s[16..]);        // ET_EXEC
        BitConverter.GetBytes((ushort)62).CopyTo(s[18..]);       // x86-64
        BitConverter.GetBytes(1u).CopyTo(s[20..]);
        BitConverter.GetBytes(0x1000000UL).CopyTo(s[24..]);      // e_entry
        BitConverter.GetBytes(64UL).CopyTo(s[32..]);             // e_phoff
        BitConverter.GetBytes((ushort)64).CopyTo(s[52..]);       // e_ehsize
        BitConverter.GetBytes((ushort)56).CopyTo(s[54..]);       // e_phentsize
        BitConverter.GetBytes((ushort)1).CopyTo(s[56..]);        // e_phnum
        var ph = s[64..];
        BitConverter.GetBytes(1u).CopyTo(ph);                    // PT_LOAD
        BitConverter.GetBytes(0x1000UL).CopyTo(ph[8..]);         // p_offset
        BitConverter.GetBytes(0x1000000UL).CopyTo(ph[16..]);     // p_vaddr
        BitConverter.GetBytes(0x1000000UL).CopyTo(ph[24..]);     // p_paddr
        BitConverter.GetBytes(16UL).CopyTo(ph[32..]);            // p_filesz
        BitConverter.GetBytes(16UL).CopyTo(ph[40..]);            // p_memsz
        elf[0x1000] = 0xf4;                                      // hlt
        return elf;
    }
}
