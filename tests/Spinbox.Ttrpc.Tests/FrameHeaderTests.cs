namespace Spinbox.Ttrpc.Tests;

public class FrameHeaderTests
{
    [Fact]
    public void Encodes_big_endian_length_and_stream_id_then_type_and_flags()
    {
        var header = new FrameHeader(0x0001_0203, 0x0A0B_0C0D, MessageType.Response, 0x01);
        var bytes = new byte[FrameHeader.Size];

        header.WriteTo(bytes);

        Assert.Equal(new byte[] { 0x00, 0x01, 0x02, 0x03, 0x0A, 0x0B, 0x0C, 0x0D, 0x02, 0x01 }, bytes);
    }

    [Fact]
    public void Decodes_a_known_request_header()
    {
        byte[] bytes = [0x00, 0x00, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00];

        var header = FrameHeader.ReadFrom(bytes);

        Assert.Equal(42u, header.Length);
        Assert.Equal(3u, header.StreamId);
        Assert.Equal(MessageType.Request, header.Type);
        Assert.Equal(0, header.Flags);
    }

    [Fact]
    public void Round_trips_the_largest_values()
    {
        var header = new FrameHeader(uint.MaxValue, uint.MaxValue, MessageType.Data, 0xFF);
        var bytes = new byte[FrameHeader.Size];
        header.WriteTo(bytes);

        Assert.Equal(header, FrameHeader.ReadFrom(bytes));
    }

    [Fact]
    public void Rejects_a_short_buffer()
    {
        var e = Assert.Throws<ArgumentException>(() => FrameHeader.ReadFrom(new byte[9]));
        Assert.Contains("10 bytes", e.Message);
    }
}
