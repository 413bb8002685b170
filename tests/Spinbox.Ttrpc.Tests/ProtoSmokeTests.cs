using Containerd.Events;
using Containerd.Services.Events.Ttrpc.V1;
using Containerd.Task.V2;
using Containerd.Types;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace Spinbox.Ttrpc.Tests;

public class ProtoSmokeTests
{
    [Fact]
    public void CreateTaskRequest_id_is_field_1_length_delimited()
    {
        var bytes = new CreateTaskRequest { Id = "abc" }.ToByteArray();

        Assert.Equal(new byte[] { 0x0A, 0x03, (byte)'a', (byte)'b', (byte)'c' }, bytes);
    }

    [Fact]
    public void CreateTaskRequest_rootfs_mounts_and_oom_path_use_containerd_field_numbers()
    {
        var request = new CreateTaskRequest { OomPath = "x" };
        request.Rootfs.Add(new Mount { Type = "ext4" });

        var bytes = request.ToByteArray();

        // rootfs = 3 (0x1A) holding Mount.type = 1 (0x0A); oom_path = 11 -> tag (11 << 3) | 2 = 0x5A.
        Assert.Equal(new byte[] { 0x1A, 0x06, 0x0A, 0x04, (byte)'e', (byte)'x', (byte)'t', (byte)'4', 0x5A, 0x01, (byte)'x' }, bytes);
    }

    [Fact]
    public void Message_and_service_full_names_match_containerd()
    {
        Assert.Equal("containerd.task.v2.CreateTaskRequest", CreateTaskRequest.Descriptor.FullName);
        Assert.Equal("containerd.events.TaskExit", TaskExit.Descriptor.FullName);
        Assert.Equal("containerd.types.Envelope", Envelope.Descriptor.FullName);
        Assert.Equal("containerd.v1.types.ProcessInfo", Containerd.V1.Types.ProcessInfo.Descriptor.FullName);

        var task = ShimReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.ServiceDescriptor>("Task");
        Assert.Equal("containerd.task.v2.Task", task.FullName);
        Assert.Equal(17, task.Methods.Count);
        var events = EventsReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.ServiceDescriptor>("Events");
        Assert.Equal("containerd.services.events.ttrpc.v1.Events", events.FullName);
        Assert.Equal("Forward", Assert.Single(events.Methods).Name);
    }

    [Fact]
    public void Event_packed_in_Any_carries_the_containerd_type_url()
    {
        var exit = new TaskExit { ContainerId = "c1", Id = "c1", Pid = 42, ExitStatus = 137 };
        var envelope = new ForwardRequest
        {
            Envelope = new Envelope { Namespace = "default", Topic = "/tasks/exit", Event = Any.Pack(exit) },
        };

        var decoded = ForwardRequest.Parser.ParseFrom(envelope.ToByteArray());

        Assert.Equal("type.googleapis.com/containerd.events.TaskExit", decoded.Envelope.Event.TypeUrl);
        Assert.Equal(137u, decoded.Envelope.Event.Unpack<TaskExit>().ExitStatus);
    }

    [Fact]
    public void Ttrpc_request_envelope_uses_the_wire_field_numbers()
    {
        var request = new Proto.Request { Service = "s", Method = "m", Payload = ByteString.CopyFrom(1), TimeoutNano = 1 };
        request.Metadata.Add(new Proto.KeyValue { Key = "k", Value = "v" });

        Assert.Equal(
            new byte[] { 0x0A, 1, (byte)'s', 0x12, 1, (byte)'m', 0x1A, 1, 1, 0x20, 1, 0x2A, 6, 0x0A, 1, (byte)'k', 0x12, 1, (byte)'v' },
            request.ToByteArray());
    }
}
