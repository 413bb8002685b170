using Spinbox.Vmm.Boot;
using Spinbox.Vmm.Kvm;

namespace Spinbox.Vmm;

/// <summary>Which execution backend runs a VM (see ARCHITECTURE.md, "Execution backends").</summary>
public enum BackendChoice
{
    /// <summary>This process is the VMM, on /dev/kvm.</summary>
    Kvm,

    /// <summary>QEMU with -accel tcg as the CPU emulator, devices over vhost-user.</summary>
    Tcg,
}

public enum KvmUsability
{
    /// <summary>No /dev/kvm, it does not open, or its API version is wrong.</summary>
    Unavailable,

    /// <summary>KVM runs only exception-free guests (a PVM host, module kvm_pvm): Linux dies at its first exception.</summary>
    CannotRunStandardGuest,

    /// <summary>KVM runs a standard guest.</summary>
    Usable,
}

/// <summary>
/// Picks the backend for "auto | kvm | tcg". For auto it probes /dev/kvm: it must open with API version 12
/// and run a tiny 64-bit guest that takes an exception (int3 through an IDT gate) and returns from it. A
/// PVM host fails that probe (its KVM cannot deliver the exception), as does any KVM a standard Linux
/// guest would die on.
/// </summary>
public static class BackendSelector
{
    private const string PvmModulePath = "/sys/module/kvm_pvm";
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    public static BackendChoice Choose(string requested, out string reason) => Choose(requested, KvmSystem.DefaultDevicePath, out reason);

    public static BackendChoice Choose(string requested, string kvmDevicePath, out string reason)
    {
        switch (requested.Trim().ToLowerInvariant())
        {
            case "tcg":
                reason = "backend tcg was requested";
                return BackendChoice.Tcg;
            case "kvm":
                var usability = ProbeKvm(out string why, kvmDevicePath);
                reason = usability == KvmUsability.Usable
                    ? $"backend kvm was requested; {why}"
                    : $"backend kvm was requested although {why}";
                return BackendChoice.Kvm;
            case "auto":
            case "":
                var probe = ProbeKvm(out string probeWhy, kvmDevicePath);
                reason = probe == KvmUsability.Usable
                    ? $"auto chose kvm: {probeWhy}"
                    : $"auto chose tcg: {probeWhy}";
                return probe == KvmUsability.Usable ? BackendChoice.Kvm : BackendChoice.Tcg;
            default:
                throw new ArgumentException($"backend '{requested}' is not one of auto, kvm, tcg", nameof(requested));
        }
    }

    /// <summary>Checks /dev/kvm and whether it runs a guest that takes an exception; says why in <paramref name="reason"/>.</summary>
    public static KvmUsability ProbeKvm(out string reason, string kvmDevicePath = KvmSystem.DefaultDevicePath)
    {
        if (!File.Exists(kvmDevicePath))
        {
            reason = $"{kvmDevicePath} does not exist (no hardware virtualization, or the kvm module is not loaded)";
            return KvmUsability.Unavailable;
        }
        try
        {
            using var system = KvmSystem.Open(kvmDevicePath);
        }
        catch (KvmException e)
        {
            reason = e.Message;
            return KvmUsability.Unavailable;
        }

        bool pvm = Directory.Exists(PvmModulePath);
        string? failure = RunExceptionProbe(kvmDevicePath);
        if (failure is null)
        {
            reason = $"{kvmDevicePath} (API 12) ran a probe guest that took and returned from an exception";
            return KvmUsability.Usable;
        }
        reason = pvm
            ? $"{kvmDevicePath} is PVM (module kvm_pvm is loaded): a probe guest taking an exception failed ({failure}); a standard Linux guest would die at its first exception"
            : $"{kvmDevicePath} cannot run a standard guest: a probe guest taking an exception failed ({failure})";
        return KvmUsability.CannotRunStandardGuest;
    }

    /// <summary>Null when the probe guest printed "XK" (handler, then return) and halted; else what happened.</summary>
    private static string? RunExceptionProbe(string kvmDevicePath)
    {
        try
        {
            using var vm = new KvmVm(new KvmVmConfig
            {
                FlatImage = new FlatImage(ExceptionProbeGuest, 0x1000, CpuMode.Long64),
                MemoryBytes = 2UL << 20,
                KvmDevicePath = kvmDevicePath,
            });
            vm.Start();
            if (!vm.Stopped.Wait(ProbeTimeout))
            {
                vm.RequestStop("exception probe timed out");
                return $"the probe guest did not finish within {ProbeTimeout.TotalSeconds} s";
            }
            var stop = vm.Stopped.Result;
            string output = vm.SerialConsole.Text;
            if (stop.Kind == VmStopKind.AllVcpusHalted && output == "XK") return null;
            return $"{stop}; serial output \"{output}\"";
        }
        catch (Exception e) when (e is KvmException or ArgumentException or BootImageException)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// 64-bit code at 0x1000: lidt, int3 (handler prints 'X' and iretq), then print 'K' and hlt.
    /// IDT at 0x1100 with vector 3 -> 0x1010 (selector 0x10, 64-bit interrupt gate).
    /// </summary>
    private static byte[] ExceptionProbeGuest { get; } = BuildExceptionProbe();

    private static byte[] BuildExceptionProbe()
    {
        var code = new byte[0x140];
        byte[] main =
        [
            0x0f, 0x01, 0x1d, 0x19, 0x00, 0x00, 0x00, // 0x1000 lidt [rip+0x19] -> 0x1020
            0xcc,                                     // 0x1007 int3
            0xb0, (byte)'K',                          // 0x1008 mov al, 'K'
            0x66, 0xba, 0xf8, 0x03,                   // 0x100a mov dx, 0x3f8
            0xee,                                     // 0x100e out dx, al
            0xf4,                                     // 0x100f hlt
            0xb0, (byte)'X',                          // 0x1010 handler: mov al, 'X'
            0x66, 0xba, 0xf8, 0x03,                   // 0x1012 mov dx, 0x3f8
            0xee,                                     // 0x1016 out dx, al
            0x48, 0xcf,                               // 0x1017 iretq
        ];
        main.CopyTo(code, 0);
        // IDTR at 0x1020: limit 4 vectors, base 0x1100.
        BitConverter.GetBytes((ushort)(4 * 16 - 1)).CopyTo(code, 0x20);
        BitConverter.GetBytes(0x1100UL).CopyTo(code, 0x22);
        // Gate for vector 3 at 0x1100 + 3 * 16.
        const ulong handler = 0x1010;
        ulong low = (handler & 0xffff) | ((ulong)BootGdt.Code64Selector << 16) | (0x8eUL << 40) | (((handler >> 16) & 0xffff) << 48);
        BitConverter.GetBytes(low).CopyTo(code, 0x100 + 3 * 16);
        BitConverter.GetBytes(handler >> 32).CopyTo(code, 0x100 + 3 * 16 + 8);
        return code;
    }
}
