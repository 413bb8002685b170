using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.VhostUser;

/// <summary>What the front end told us about one ring, plus the live queue once the device is active.</summary>
internal sealed class VringState(int index)
{
    public int Index { get; } = index;

    /// <summary>Queue size from SET_VRING_NUM; 0 until set.</summary>
    public ushort Size { get; set; }

    /// <summary>Front-end virtual addresses from SET_VRING_ADDR; translated only at activation.</summary>
    public VringAddress? Address { get; set; }

    /// <summary>Next available index to consume (SET_VRING_BASE in, GET_VRING_BASE out).</summary>
    public ushort Base { get; set; }

    /// <summary>SET_VRING_ENABLE's value.</summary>
    public bool EnabledFlag { get; set; }

    public OwnedFd? Kick { get; private set; }

    private volatile OwnedFd? _call;
    public OwnedFd? Call => _call;

    public OwnedFd? Err { get; private set; }

    /// <summary>The device's view of this ring while it is active.</summary>
    public volatile Virtqueue? Queue;

    /// <summary>ProcessQueue threw; kicks are ignored until the ring is set up again.</summary>
    public bool Failed { get; set; }

    public void ReplaceKick(OwnedFd? fd) { var old = Kick; Kick = fd; old?.Dispose(); }

    public void ReplaceCall(OwnedFd? fd) { var old = _call; _call = fd; old?.Dispose(); }

    public void ReplaceErr(OwnedFd? fd) { var old = Err; Err = fd; old?.Dispose(); }

    /// <summary>Back to the state of a fresh connection: no fds, no addresses, disabled.</summary>
    public void Clear()
    {
        ReplaceKick(null); ReplaceCall(null); ReplaceErr(null);
        Size = 0; Address = null; Base = 0; EnabledFlag = false; Queue = null; Failed = false;
    }
}
