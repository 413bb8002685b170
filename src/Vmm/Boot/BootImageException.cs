namespace Spinbox.Vmm.Boot;

/// <summary>A kernel, initrd or boot setting the VM cannot use; the message names the file and the problem.</summary>
public sealed class BootImageException(string message) : Exception(message)
{
    public static BootImageException For(string path, string problem) => new($"kernel image '{path}': {problem}");
}
