using Spinbox.Shim.Commands;

namespace Spinbox.Shim;

public static class Program
{
    public static int Main(string[] argv)
    {
        ShimArguments args;
        try { args = ShimArguments.Parse(argv); }
        catch (ArgumentException e) { Console.Error.WriteLine($"containerd-shim-spinbox-v1: {e.Message}"); return 2; }
        try
        {
            return args.Action switch
            {
                "start" => StartCommand.Run(args),
                "delete" => DeleteCommand.Run(args),
                "serve" => ServeCommand.Run(args),
                "version" => Version(),
                _ => Usage(args.Action),
            };
        }
        catch (Exception e) when (args.Action != "serve")
        {
            Console.Error.WriteLine($"containerd-shim-spinbox-v1 {args.Action}: {e.Message}");
            return 1;
        }
    }

    private static int Version()
    {
        Console.WriteLine($"containerd-shim-spinbox-v1\n  Version: {typeof(Program).Assembly.GetName().Version}\n  Runtime: io.containerd.spinbox.v1");
        return 0;
    }

    private static int Usage(string action)
    {
        Console.Error.WriteLine(action == "" ? "usage: containerd-shim-spinbox-v1 [flags] start|delete" : $"unknown action '{action}' (want start or delete)");
        return 2;
    }
}
