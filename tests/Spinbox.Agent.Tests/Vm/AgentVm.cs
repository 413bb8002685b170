using Google.Protobuf;
using Spinbox.Ttrpc;
using Spinbox.Virtio.Devices.Blk;
using Spinbox.Virtio.Devices.Vsock;
using Spinbox.Virtio.VhostUser;
using Xunit.Abstractions;

namespace Spinbox.Agent.Tests.Vm;

/// <summary>
/// A VM running the agent initramfs with spinbox's vsock device served to QEMU over vhost-user, and a
/// ttrpc client on the agent's connection.
/// Disks are QEMU's own virtio-blk unless <c>spinboxBlk</c> asks for spinbox's VirtioBlkDevice over
/// vhost-user: under TCG, code that a vhost-user back end writes into guest RAM can run QEMU's stale
/// translation of whatever code that page held before (QEMU never sees those writes). A busybox
/// executed from a vhost-user-blk rootfs crashed that way (with qemu-storage-daemon as back end too)
/// while the same bytes read back intact, until the agent stopped crun from copying itself into a new
/// memfd on every run.
/// </summary>
internal sealed class AgentVm : IAsyncDisposable
{
    private const string Service = "spinbox.agent.v1.Agent";

    private readonly VirtioVsockDevice _vsock;
    private readonly List<IDisposable> _owned = new();
    private readonly List<Task> _serving = new();
    private readonly ITestOutputHelper _output;
    private QemuGuest? _qemu;
    private TtrpcClient? _client;

    private AgentVm(ITestOutputHelper output)
    {
        _output = output;
        _vsock = new VirtioVsockDevice(3);
        _owned.Add(_vsock);
    }

    public TimeSpan Elapsed => _qemu!.Started.Elapsed;

    public static async Task<AgentVm> StartAsync(string dir, IReadOnlyList<(string Serial, string Image, bool ReadOnly)> disks, ITestOutputHelper output, bool spinboxBlk = false)
    {
        var vm = new AgentVm(output);
        try
        {
            var agent = vm.Accept(1024);
            string socket = Path.Combine(dir, "vsock.sock");
            var backend = new VhostUserBackend(vm._vsock, socket);
            vm._owned.Add(backend);
            vm._serving.Add(backend.RunAsync());
            var devices = new List<string> { "-chardev", $"socket,id=vsock,path={socket}", "-device", "vhost-user-vsock-pci,chardev=vsock" };
            int index = 0;
            foreach (var (serial, image, readOnly) in disks)
            {
                if (spinboxBlk)
                {
                    string disk = image;
                    if (!readOnly)
                    {
                        disk = Path.Combine(dir, $"disk{index}-{serial}.img");
                        File.Copy(image, disk, overwrite: true);
                    }

                    var blk = new VirtioBlkDevice(disk, readOnly, serial);
                    vm._owned.Add(blk);
                    string blkSocket = Path.Combine(dir, $"blk{index}.sock");
                    var blkBackend = new VhostUserBackend(blk, blkSocket);
                    vm._owned.Add(blkBackend);
                    vm._serving.Add(blkBackend.RunAsync());
                    devices.AddRange(["-chardev", $"socket,id=blk{index},path={blkSocket}",
                        "-device", $"vhost-user-blk-pci,chardev=blk{index},num-queues=1,queue-size={blk.MaxQueueSize}"]);
                    index++;
                    continue;
                }

                // snapshot=on: the guest may write (mount points in a writable rootfs), the image stays as built.
                devices.AddRange(["-drive", $"file={image},if=none,id={serial},format=raw,{(readOnly ? "readonly=on" : "snapshot=on")}",
                    "-device", $"virtio-blk-pci,drive={serial},serial={serial}"]);
            }

            vm._qemu = new QemuGuest(Path.Combine(dir, "console.log"), "", devices);
            var stream = await agent.WaitAsync(TimeSpan.FromSeconds(45));
            vm._client = new TtrpcClient(stream);
            return vm;
        }
        catch
        {
            await vm.DisposeAsync();
            throw;
        }
    }

    /// <summary>The first connection the guest makes to <paramref name="port"/>.</summary>
    public Task<VsockStream> Accept(uint port)
    {
        var accepted = new TaskCompletionSource<VsockStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        _owned.Add(_vsock.Listen(port, s => accepted.TrySetResult(s)));
        return accepted.Task;
    }

    public Task<TResp> CallAsync<TResp>(string method, IMessage request, MessageParser<TResp> parser)
        where TResp : IMessage<TResp> =>
        _client!.CallAsync(Service, method, request, parser, timeout: TimeSpan.FromSeconds(30));

    public string Console() => _qemu?.Console() ?? "";

    /// <summary>Shutdown must power the guest off: QEMU exits by itself.</summary>
    public async Task ShutdownAsync()
    {
        await CallAsync("Shutdown", new Spinbox.Agent.V1.Empty(), Spinbox.Agent.V1.Empty.Parser);
        Assert.True(await _qemu!.WaitForExitAsync(TimeSpan.FromSeconds(20)), "QEMU still runs 20 s after Shutdown");
        Assert.Equal(0, _qemu.ExitCode);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }

        if (_qemu is not null)
        {
            _output.WriteLine($"QEMU ran {_qemu.Started.Elapsed.TotalSeconds:F1} s; console:\n{_qemu.Console()}");
            _qemu.Dispose();
            _output.WriteLine(await _qemu.Stderr);
        }

        foreach (var d in Enumerable.Reverse(_owned))
        {
            d.Dispose();
        }

        await Task.WhenAny(Task.WhenAll(_serving), Task.Delay(5000));
    }
}
