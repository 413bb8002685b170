using System.Diagnostics;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using Spinbox.Bench;
using Spinbox.Vmm;

// "quick": a plain Stopwatch run of both measurements (seconds, no BenchmarkDotNet); else BenchmarkDotNet.
if (args.Length > 0 && args[0] == "quick")
{
    Quick();
    return;
}
var config = DefaultConfig.Instance.AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(15).WithLaunchCount(1));
BenchmarkSwitcher.FromAssembly(typeof(VmStartBenchmark).Assembly).Run(args, config);

static void Quick()
{
    var starts = new List<double>();
    for (int i = 0; i < 20; i++)
    {
        var sw = Stopwatch.StartNew();
        using var vm = new KvmVm(new KvmVmConfig { FlatImage = BenchGuests.FirstSerialByte, MemoryBytes = 2UL << 20 });
        vm.Start();
        vm.SerialConsole.FirstByte.Wait();
        starts.Add(sw.Elapsed.TotalMilliseconds);
    }
    starts.Sort();
    Console.WriteLine($"VM create -> first serial byte: median {starts[starts.Count / 2]:F2} ms (min {starts[0]:F2}, max {starts[^1]:F2}, n={starts.Count})");

    using var loop = new KvmVm(new KvmVmConfig { FlatImage = BenchGuests.PortIoLoop, MemoryBytes = 2UL << 20 });
    loop.Start();
    PortIoExitBenchmark.WaitForExits(loop, 10_000); // warm up
    var timer = Stopwatch.StartNew();
    long before = loop.IoExits;
    PortIoExitBenchmark.WaitForExits(loop, 200_000);
    double perExit = timer.Elapsed.TotalMicroseconds / (loop.IoExits - before);
    Console.WriteLine($"port-I/O exit round trip: {perExit:F2} us per exit ({loop.IoExits - before} exits)");
}
