// Spinbox and these tests run on Linux only (containerd, overlayfs, file modes).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
