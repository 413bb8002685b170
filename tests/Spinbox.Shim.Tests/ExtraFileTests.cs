using Spinbox.Shim.Service;
using Spinbox.Shim.Settings;

namespace Spinbox.Shim.Tests;

public sealed class ExtraFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spinbox-extras-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string MakeFile(string name, string content = "x")
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, content);
        return p;
    }

    [Fact]
    public void ParsesTheSeedExample()
    {
        string app = MakeFile("app"), cfg = MakeFile("app.json");
        var files = ExtraFile.ParseAll($$$"""{"/usr/local/bin/app":{"source":"{{{app}}}","mode":493},"/etc/app/config.json":{"source":"{{{cfg}}}","mode":420}}""");
        Assert.Equal(2, files.Count);
        Assert.Contains(files, f => f.Destination == "/usr/local/bin/app" && f.Mode == 493 && f.Source == app);
        Assert.Contains(files, f => f.Destination == "/etc/app/config.json" && f.Mode == 420);
    }

    [Fact]
    public void EmptyMapIsNoError() => Assert.Empty(ExtraFile.ParseAll("{}"));

    [Theory]
    [InlineData("{not json", "invalid JSON")]
    [InlineData("[]", "must be a JSON object")]
    [InlineData("""{"relative/path":{"source":"/etc/hostname","mode":420}}""", "destination must be an absolute path")]
    [InlineData("""{"/a":{"source":"etc/hostname","mode":420}}""", "must be an absolute path")]
    [InlineData("""{"/a":{"source":"/no/such/file","mode":420}}""", "does not exist")]
    [InlineData("""{"/a":{"source":"/tmp","mode":420}}""", "is a directory")]
    [InlineData("""{"/a":{"source":"/dev/null","mode":420}}""", "not a regular file")]
    [InlineData("""{"/a":{"source":"/etc/hostname","mode":4096}}""", "outside 0..4095")]
    [InlineData("""{"/a":{"source":"/etc/hostname","mode":-1}}""", "outside 0..4095")]
    [InlineData("""{"/a":{"source":"/etc/hostname","mode":"493"}}""", "must be an integer")]
    [InlineData("""{"/a":{"mode":420}}""", "\"source\" is missing")]
    [InlineData("""{"/x/../etc/passwd":{"source":"/etc/hostname","mode":420}}""", "normalized")]
    public void BadInputNamesTheAnnotationAndTheProblem(string json, string expected)
    {
        var e = Assert.Throws<SettingsException>(() => ExtraFile.ParseAll(json));
        Assert.StartsWith("io.spin.extras.files:", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
