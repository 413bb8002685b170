// The agent is Linux-only; so are its tests.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// Tests that change the process umask must not run beside tests that create files.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
