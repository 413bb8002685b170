using Spinbox.Agent.V1;
using Spinbox.GuestAgent.Boot;
using Spinbox.GuestAgent.Extras;
using Spinbox.GuestAgent.Logging;
using Spinbox.GuestAgent.Supervisor;
using Spinbox.GuestAgent.Vsock;
using Spinbox.Ttrpc;

namespace Spinbox.GuestAgent.Service;

/// <summary>SetupGuest: extras extraction, then the supervisor's config, process and log mirror.</summary>
internal sealed class GuestSetup(ExtrasService extras, SupervisorRunner supervisor, IStdioConnector connector, KernelCmdline cmdline)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _mirroring;

    public async Task<Empty> SetupAsync(SetupGuestRequest request)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (request.ExtrasDiskSerial.Length > 0)
            {
                await extras.SetupFromDiskAsync(request.ExtrasDiskSerial, request.ForceExtract, cmdline.ExtrasForce).ConfigureAwait(false);
            }

            if (request.Supervisor is { } config)
            {
                SupervisorSettings.Write(SupervisorRunner.ConfigPath, config);
                if (!supervisor.Start())
                {
                    AgentLog.Info("supervisor already running; its config file was rewritten");
                }

                if (request.SupervisorLogPort != 0 && !_mirroring)
                {
                    _mirroring = true;
                    LogMirror.Start(connector, request.SupervisorLogPort, SupervisorRunner.LogPath);
                }
            }

            return new Empty();
        }
        catch (InvalidExtrasException e)
        {
            throw new TtrpcException(TtrpcStatusCode.InvalidArgument, $"extras: {e.Message}");
        }
        catch (InvalidSupervisorConfigException e)
        {
            throw new TtrpcException(TtrpcStatusCode.InvalidArgument, e.Message);
        }
        catch (FileNotFoundException e)
        {
            throw new TtrpcException(TtrpcStatusCode.FailedPrecondition, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TtrpcException(TtrpcStatusCode.Internal, e.Message);
        }
        finally
        {
            _lock.Release();
        }
    }
}
