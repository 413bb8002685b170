using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spinbox.Virtio.Memory;
using Spinbox.Virtio.Queue;

namespace Spinbox.Virtio.Devices.Blk;

/// <summary>
/// virtio-blk over a raw image file: one request queue, reads, writes, flush and get-id. Every request is
/// checked against the disk's capacity and guest RAM; a bad request fails with VIRTIO_BLK_S_IOERR (or is
/// returned with length 0 when it has no status byte) and the device keeps serving the next one.
/// </summary>
public sealed class VirtioBlkDevice : IVirtioDevice
{
    public const int SerialMaxBytes = 20;

    /// <summary>The largest request accepted (data bytes); larger ones fail with IOERR.</summary>
    public const long MaxRequestBytes = 1L << 30;

    private readonly BlkDiskImage _disk;
    private readonly byte[] _serial;
    private readonly ILogger _logger;
    private readonly bool _offerEventIdx;
    private readonly object _lock = new();
    private IGuestMemory? _memory;
    private Virtqueue? _queue;
    private IInterruptSignal? _interrupt;
    private int _guestErrorsLogged;

    /// <param name="imagePath">Raw image; its size sets the capacity (whole 512-byte sectors).</param>
    /// <param name="readOnly">Offer VIRTIO_BLK_F_RO and fail every write.</param>
    /// <param name="serial">Returned by GET_ID (the guest's /sys/block/vdX/serial): printable ASCII, at most 20 bytes.</param>
    public VirtioBlkDevice(string imagePath, bool readOnly, string serial, ILogger? logger = null, ushort maxQueueSize = 256, bool eventIndex = true)
    {
        if (serial.Length > SerialMaxBytes || serial.Any(c => c < 0x20 || c > 0x7e))
            throw new ArgumentException($"serial \"{serial}\" must be at most {SerialMaxBytes} printable ASCII characters", nameof(serial));
        if (maxQueueSize < 4 || maxQueueSize > 32768 || (maxQueueSize & (maxQueueSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(maxQueueSize), $"queue size {maxQueueSize} is not a power of two in 4..32768");
        _serial = Encoding.ASCII.GetBytes(serial);
        _logger = logger ?? NullLogger.Instance;
        _offerEventIdx = eventIndex;
        MaxQueueSize = maxQueueSize;
        _disk = new BlkDiskImage(imagePath, readOnly);
        if (_disk.LengthBytes % BlkDiskImage.SectorSize != 0)
            _logger.LogWarning("virtio-blk: {Path} is {Length} bytes, not a multiple of 512; the last partial sector is hidden", imagePath, _disk.LengthBytes);
    }

    public uint DeviceType => 2;
    public int QueueCount => 1;
    public ushort MaxQueueSize { get; }
    public bool ReadOnly => _disk.ReadOnly;
    public ulong CapacitySectors => _disk.CapacitySectors;
    public string Serial => Encoding.ASCII.GetString(_serial);

    public ulong DeviceFeatures =>
        (1UL << VirtioBlkFeatures.Version1) | (1UL << VirtioBlkFeatures.SegMax) | (1UL << VirtioBlkFeatures.BlkSize)
        | (1UL << VirtioBlkFeatures.Flush) | (1UL << VirtioBlkFeatures.RingIndirectDesc)
        | (ReadOnly ? 1UL << VirtioBlkFeatures.ReadOnly : 0)
        | (_offerEventIdx ? 1UL << VirtioBlkFeatures.RingEventIdx : 0);

    /// <summary>Room for the header and the status in a direct chain; indirect chains may use as many.</summary>
    private uint SegMax => (uint)MaxQueueSize - 2;

    public void ReadConfig(uint offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[VirtioBlkConfig.Size];
        new VirtioBlkConfig(_disk.CapacitySectors, SegMax, BlkDiskImage.SectorSize, 1).Encode(config);
        data.Clear();
        if (offset < config.Length)
        {
            var available = config[(int)offset..];
            available[..Math.Min(available.Length, data.Length)].CopyTo(data);
        }
    }

    /// <summary>Nothing is writable: the writeback field needs CONFIG_WCE, which is not offered.</summary>
    public void WriteConfig(uint offset, ReadOnlySpan<byte> data) { }

    public void Activate(IGuestMemory memory, ulong ackedFeatures, IReadOnlyList<Virtqueue> queues, IInterruptSignal interrupt)
    {
        if (queues.Count != 1) throw new ArgumentException($"virtio-blk has one queue, got {queues.Count}", nameof(queues));
        lock (_lock)
        {
            _memory = memory;
            _queue = queues[0];
            _interrupt = interrupt;
        }
    }

    public void Reset()
    {
        lock (_lock)
        {
            _memory = null;
            _queue = null;
            _interrupt = null;
        }
    }

    public void ProcessQueue(int queueIndex)
    {
        lock (_lock)
        {
            if (queueIndex != 0 || _queue == null || _memory == null) return;
            bool pushed = false;
            while (true)
            {
                ushort before = _queue.NextAvailable;
                DescriptorChain chain;
                try
                {
                    if (!_queue.TryPop(out chain)) break;
                }
                catch (VirtqueueException e)
                {
                    GuestError($"malformed descriptor chain: {e.Message}");
                    // A bad chain was consumed: go on with the next. An impossible ring index consumed nothing: stop.
                    if (_queue.NextAvailable == before) break;
                    continue;
                }
                catch (GuestMemoryException e)
                {
                    GuestError($"descriptor table access failed: {e.Message}");
                    if (_queue.NextAvailable == before) break;
                    continue;
                }
                _queue.PushUsed(chain.HeadIndex, Execute(_memory, chain));
                pushed = true;
            }
            if (pushed) _interrupt?.Signal(0);
        }
    }

    /// <summary>Runs one request and writes its status; returns the used length (bytes written into the chain).</summary>
    private uint Execute(IGuestMemory memory, DescriptorChain chain)
    {
        ulong? statusAddress = BlkRequest.FindStatusAddress(chain);
        if (statusAddress is not { } status || !memory.TryGetSpan(status, 1, out var statusByte))
        {
            GuestError("request without a writable status byte inside guest RAM; returned with length 0");
            return 0;
        }
        byte result;
        uint written = 0;
        try
        {
            var request = BlkRequest.Parse(memory, chain);
            if (request == null)
            {
                GuestError("request shorter than its 16-byte header");
                result = BlkStatus.IoError;
            }
            else result = Execute(memory, request, out written);
        }
        catch (GuestMemoryException e)
        {
            GuestError($"request buffer outside guest RAM: {e.Message}");
            result = BlkStatus.IoError;
            written = 0;
        }
        catch (IOException e)
        {
            _logger.LogError("virtio-blk: I/O error on {Path}: {Error}", _disk.Path, e.Message);
            result = BlkStatus.IoError;
            written = 0;
        }
        statusByte[0] = result;
        return written + 1;
    }

    private byte Execute(IGuestMemory memory, BlkRequest request, out uint written)
    {
        written = 0;
        switch (request.Type)
        {
            case BlkRequestType.In:
                if (!CheckRange(request, request.InDataLength)) return BlkStatus.IoError;
                var inData = request.InData(request.InDataLength);
                RequireInRam(memory, inData);
                long offset = (long)request.Sector * BlkDiskImage.SectorSize;
                foreach (var s in inData)
                {
                    if (!_disk.TryRead(memory.GetSpan(s.Address, (int)s.Length), offset))
                    {
                        _logger.LogError("virtio-blk: {Path} ended before offset {Offset}", _disk.Path, offset + s.Length);
                        return BlkStatus.IoError;
                    }
                    offset += s.Length;
                    written += s.Length;
                }
                return BlkStatus.Ok;

            case BlkRequestType.Out:
                if (ReadOnly)
                {
                    GuestError($"write to read-only disk at sector {request.Sector}");
                    return BlkStatus.IoError;
                }
                if (!CheckRange(request, request.OutDataLength)) return BlkStatus.IoError;
                var outData = request.OutData;
                RequireInRam(memory, outData);
                long position = (long)request.Sector * BlkDiskImage.SectorSize;
                foreach (var s in outData)
                {
                    _disk.Write(memory.GetSpan(s.Address, (int)s.Length), position);
                    position += s.Length;
                }
                return BlkStatus.Ok;

            case BlkRequestType.Flush:
                _disk.Flush();
                return BlkStatus.Ok;

            case BlkRequestType.GetId:
                Span<byte> id = stackalloc byte[SerialMaxBytes];
                id.Clear();
                _serial.CopyTo(id);
                var idData = request.InData(SerialMaxBytes);
                RequireInRam(memory, idData);
                int copied = 0;
                foreach (var s in idData)
                {
                    id.Slice(copied, (int)s.Length).CopyTo(memory.GetSpan(s.Address, (int)s.Length));
                    copied += (int)s.Length;
                }
                written = (uint)copied;
                return BlkStatus.Ok;

            default:
                return BlkStatus.Unsupported;
        }
    }

    /// <summary>Data must be whole sectors, at most MaxRequestBytes, and inside the disk.</summary>
    private bool CheckRange(BlkRequest request, long length)
    {
        ulong capacity = _disk.CapacitySectors;
        if (length < 0 || length % BlkDiskImage.SectorSize != 0 || length > MaxRequestBytes)
        {
            GuestError($"request data length {length} is not a multiple of 512 in 0..{MaxRequestBytes}");
            return false;
        }
        ulong sectors = (ulong)length / BlkDiskImage.SectorSize;
        if (request.Sector > capacity || sectors > capacity - request.Sector)
        {
            GuestError($"request for sectors {request.Sector}+{sectors} is beyond the capacity of {capacity} sectors");
            return false;
        }
        return true;
    }

    /// <summary>Checks every segment before any I/O, so a bad buffer never leaves a half-done write.</summary>
    private static void RequireInRam(IGuestMemory memory, IReadOnlyList<GuestSegment> segments)
    {
        foreach (var s in segments)
            if (s.Length > int.MaxValue || !memory.TryGetSpan(s.Address, (int)s.Length, out _))
                throw new GuestMemoryException($"data buffer 0x{s.Address:x}+{s.Length} is outside guest RAM");
    }

    /// <summary>Guest mistakes are logged, but only the first few: a hostile guest must not flood the log.</summary>
    private void GuestError(string message)
    {
        const int limit = 20;
        if (Volatile.Read(ref _guestErrorsLogged) >= limit) return;
        int n = Interlocked.Increment(ref _guestErrorsLogged);
        if (n <= limit) _logger.LogWarning("virtio-blk {Serial}: {Message}", Serial, message);
        if (n == limit) _logger.LogWarning("virtio-blk {Serial}: further guest errors are not logged", Serial);
    }

    public void Dispose()
    {
        Reset();
        _disk.Dispose();
    }
}
