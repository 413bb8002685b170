using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Spinbox.Shim.Config;
using Spinbox.Shim.Events;
using Spinbox.Shim.Interop;
using Spinbox.Shim.Logging;
using Spinbox.Shim.Service;
using Spinbox.Ttrpc;

namespace Spinbox.Shim.Commands;

/// <summary>The long-lived shim: serves containerd.task.v2.Task on its socket until Shutdown.</summary>
public static class ServeCommand
{
    public static int Run(ShimArguments args)
    {
        // Our own session, so containerd's process-group signals don't reach us or the VM.
        Libc.setsid();
        int devnull = Libc.open("/dev/null", Libc.O_RDWR, 0);
        if (devnull >= 0) { Libc.dup2(devnull, 0); Libc.dup2(devnull, 1); Libc.dup2(devnull, 2); Libc.close(devnull); }

        // fifo and vsock copies block pool threads; don't let the pool's slow thread injection add latency.
        ThreadPool.SetMinThreads(32, 32);
        var config = SpinboxConfig.Load();
        var paths = new ShimPaths(config, args.Address, args.Namespace, args.Id);
        using var log = new ShimLog(args.Debug ? LogLevel.Debug : LogLevel.Information, args.Id);
        log.AttachFifo(Path.Combine(Directory.GetCurrentDirectory(), "log"));
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(log).SetMinimumLevel(LogLevel.Trace));
        var logger = loggerFactory.CreateLogger("shim");

        using var shutdown = new CancellationTokenSource();
        string ttrpcAddress = Environment.GetEnvironmentVariable("TTRPC_ADDRESS") is { Length: > 0 } t ? t : args.Address + ".ttrpc";
        using var publisher = new EventPublisher(ttrpcAddress, args.Namespace, loggerFactory.CreateLogger("events"));
        var service = new TaskService(args, config, paths, publisher, loggerFactory, () => shutdown.Cancel());
        var server = new TtrpcServer();
        service.Register(server);

        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; shutdown.Cancel(); });
        var serving = server.ListenUnixAsync(paths.Socket, shutdown.Token);
        logger.LogInformation("shim serving on {Socket} (namespace {Ns})", paths.Socket, args.Namespace);
        try { serving.Wait(shutdown.Token); }
        catch (OperationCanceledException) { }
        catch (AggregateException e) { logger.LogError(e.InnerException, "ttrpc server failed"); }

        service.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(15));
        publisher.Flush(TimeSpan.FromSeconds(5));
        try { File.Delete(paths.Socket); } catch (IOException) { }
        logger.LogInformation("shim exiting");
        return 0;
    }
}
