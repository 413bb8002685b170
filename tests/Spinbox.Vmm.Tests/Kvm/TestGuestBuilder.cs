using System.Diagnostics;

namespace Spinbox.Vmm.Tests.Kvm;

/// <summary>
/// Builds the freestanding test guests with the host toolchain: GNU as for the tiny real-mode ones, and
/// gcc -ffreestanding -nostdlib for the 32-bit virtio driver. Output is a flat binary for a fixed address.
/// </summary>
public static class TestGuestBuilder
{
    public static string? MissingToolchain { get; } = FindMissing();

    private static string? FindMissing()
    {
        foreach (var tool in new[] { "as", "ld", "objcopy", "gcc" })
            if (!File.Exists($"/usr/bin/{tool}")) return $"/usr/bin/{tool} is not installed (binutils/gcc build the test guests)";
        return null;
    }

    /// <summary>Assembles GNU-as source (put .code16/.code32 in it) linked at <paramref name="loadAddress"/>.</summary>
    public static byte[] Assemble(string source, ulong loadAddress)
    {
        using var dir = new TempDir();
        string src = Path.Combine(dir.Path, "guest.S"), obj = Path.Combine(dir.Path, "guest.o");
        File.WriteAllText(src, source);
        Run("gcc", $"-m32 -c -o {obj} {src}");
        return LinkFlat(dir.Path, obj, loadAddress);
    }

    /// <summary>Compiles freestanding 32-bit C with _start first, linked at <paramref name="loadAddress"/>.</summary>
    public static byte[] CompileC32(string source, ulong loadAddress)
    {
        using var dir = new TempDir();
        string src = Path.Combine(dir.Path, "guest.c"), obj = Path.Combine(dir.Path, "guest.o");
        File.WriteAllText(src, source);
        // No SSE/x87 (CR4.OSFXSR is off, so SSE would fault) and no runtime: the guest must take no exception.
        Run("gcc", $"-m32 -O2 -ffreestanding -fno-pic -fno-stack-protector -fno-asynchronous-unwind-tables " +
                   $"-mgeneral-regs-only -fno-builtin -nostdlib -c -o {obj} {src}");
        return LinkFlat(dir.Path, obj, loadAddress);
    }

    private static byte[] LinkFlat(string dir, string obj, ulong loadAddress)
    {
        string script = Path.Combine(dir, "guest.ld"), elf = Path.Combine(dir, "guest.elf"), bin = Path.Combine(dir, "guest.bin");
        File.WriteAllText(script, $$"""
            ENTRY(_start)
            SECTIONS {
              . = 0x{{loadAddress:x}};
              .text : { *(.text.start) *(.text*) }
              .rodata : { *(.rodata*) }
              .data : { *(.data*) }
              .bss : { *(.bss*) *(COMMON) }
              /DISCARD/ : { *(.note*) *(.comment) *(.eh_frame*) }
            }
            """);
        Run("ld", $"-m elf_i386 -T {script} -o {elf} {obj}");
        Run("objcopy", $"-O binary {elf} {bin}");
        return File.ReadAllBytes(bin);
    }

    private static void Run(string tool, string args)
    {
        var psi = new ProcessStartInfo(tool, args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000)) { p.Kill(); throw new TimeoutException($"{tool} {args} timed out"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{tool} {args} failed ({p.ExitCode}): {stderr}");
    }
}

public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spinbox-vmm-" + Guid.NewGuid().ToString("N")[..12]);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
