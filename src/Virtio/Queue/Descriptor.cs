namespace Spinbox.Virtio.Queue;

/// <summary>One buffer of a descriptor chain, as the guest described it (not yet checked against RAM).</summary>
public readonly record struct Descriptor(ulong Address, uint Length, bool IsDeviceWritable);

/// <summary>A validated descriptor chain popped from the available ring.</summary>
public sealed class DescriptorChain(ushort headIndex, Descriptor[] descriptors)
{
    public ushort HeadIndex { get; } = headIndex;
    public IReadOnlyList<Descriptor> Descriptors { get; } = descriptors;

    public IEnumerable<Descriptor> Readable => Descriptors.Where(d => !d.IsDeviceWritable);
    public IEnumerable<Descriptor> Writable => Descriptors.Where(d => d.IsDeviceWritable);

    public long TotalReadableLength => Readable.Sum(d => (long)d.Length);
    public long TotalWritableLength => Writable.Sum(d => (long)d.Length);
}

/// <summary>The guest broke the ring's rules (bad index, loop, malformed indirect table).</summary>
public sealed class VirtqueueException(string message) : Exception(message);
