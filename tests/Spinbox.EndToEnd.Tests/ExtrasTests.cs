using System.Formats.Tar;
using System.Security.Cryptography;

namespace Spinbox.EndToEnd.Tests;

/// <summary>
/// io.spin.extras.files through a real containerd and `ctr run --label`, as the integration doc's
/// examples use it: the files appear in the container with the given modes, the tar is cached by content,
/// an empty map is no error, and spin.extras_force=1 reaches the agent.
/// </summary>
[Collection(ContainerdCollection.Name)]
public sealed class ExtrasTests(ContainerdInstances instances)
{
    public const string ExtrasKey = "io.spin.extras.files";

    public static TheoryData<string> Versions() => new(ContainerdInstances.Versions);

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task Single_file_example_runs_the_injected_program_as_the_command(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        using var files = new HostFiles();
        var myapp = files.Script("myapp", $"echo \"myapp {files.Token} ran as $0 on $(uname -r)\"");
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "extras1");

        var run = await SpinboxCtr.RunRmAsync(instance, id,
            SpinboxCtr.Labels((ExtrasKey, HostFiles.ExtrasJson(("/usr/local/bin/myapp", myapp, 493)))),
            ["/usr/local/bin/myapp"]);

        Assert.True(run.ExitCode == 0, run.Describe());
        // the token is only in the host file, the release only in the guest: the injected script ran in the VM
        Assert.Equal($"myapp {files.Token} ran as /usr/local/bin/myapp on {await GuestKernel.ReleaseAsync()}\n", run.Stdout);
    }

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task Multiple_files_get_their_exact_modes_and_a_second_run_reuses_the_cached_tar(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        var paths = SpinboxHostPaths.Load();
        using var files = new HostFiles();
        (string Destination, string Source, int Mode)[] injected =
        [
            ("/usr/local/bin/app", files.Script("app",
                "stat -c '%a %n' /usr/local/bin/app /etc/app/config.json /usr/local/bin/helper /etc/app/credentials /usr/local/sbin/private-tool\n" +
                "/usr/local/bin/helper\n/usr/local/sbin/private-tool\ncat /etc/app/config.json /etc/app/credentials"), 493),
            ("/etc/app/config.json", files.Write("app.json", $"{{\"token\":\"{files.Token}\"}}\n"), 420),
            ("/usr/local/bin/helper", files.Script("helper", "echo helper ran"), 493),
            ("/etc/app/credentials", files.Write("credentials", "user=test\n"), 384),
            ("/usr/local/sbin/private-tool", files.Script("private-tool", "echo private-tool ran"), 448),
        ];
        var labels = SpinboxCtr.Labels((ExtrasKey, HostFiles.ExtrasJson(injected)));
        var expected =
            "755 /usr/local/bin/app\n644 /etc/app/config.json\n755 /usr/local/bin/helper\n600 /etc/app/credentials\n700 /usr/local/sbin/private-tool\n" +
            $"helper ran\nprivate-tool ran\n{{\"token\":\"{files.Token}\"}}\nuser=test\n";

        var firstId = ContainerRun.NewId(containerd, Runtimes.Spinbox, "extras-first");
        var first = await SpinboxCtr.RunRmAsync(instance, firstId, labels, ["/usr/local/bin/app"]);

        Assert.True(first.ExitCode == 0, first.Describe());
        Assert.Equal(expected, first.Stdout);
        var built = ShimLogLines.ExtrasTar(instance, firstId);
        Assert.True(built is { Reused: false }, $"no 'extras: built tar' line for {firstId} in {instance.LogPath}: {built}");
        var tar = paths.ExtrasTar(built.Value.Hash);
        Assert.True(File.Exists(tar), $"the log names tar {built.Value.Hash} but {tar} does not exist");
        Assert.Equal(built.Value.Hash, await Sha256Async(tar));
        Assert.Equal(injected.OrderBy(f => f.Destination, StringComparer.Ordinal).Select(f => (f.Destination.TrimStart('/'), f.Mode)),
            TarEntries(tar));
        var mtime = File.GetLastWriteTimeUtc(tar);

        var secondId = ContainerRun.NewId(containerd, Runtimes.Spinbox, "extras-second");
        var second = await SpinboxCtr.RunRmAsync(instance, secondId, labels, ["/usr/local/bin/app"]);

        Assert.True(second.ExitCode == 0, second.Describe());
        Assert.Equal(expected, second.Stdout);
        var reused = ShimLogLines.ExtrasTar(instance, secondId);
        Assert.True(reused is { Reused: true }, $"no 'extras: reusing cached tar' line for {secondId} in {instance.LogPath}: {reused}");
        Assert.Equal(built.Value.Hash, reused.Value.Hash);
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(tar));
    }

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task An_empty_map_is_no_error_and_attaches_no_extras_disk(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "extras-empty");

        var run = await SpinboxCtr.RunRmAsync(instance, id, SpinboxCtr.Labels((ExtrasKey, "{}")), ["echo", "ran without extras"]);

        Assert.True(run.ExitCode == 0, run.Describe());
        Assert.Equal("ran without extras\n", run.Stdout);
        Assert.Null(ShimLogLines.ExtrasTar(instance, id));
        var console = await File.ReadAllTextAsync(SpinboxHostPaths.Load().ConsoleLog(id));
        Assert.Contains($"container {id} started", console); // the console log is the right one and complete
        Assert.DoesNotContain("extras:", console);
    }

    [SkippableTheory, MemberData(nameof(Versions))]
    public async Task Extras_force_on_the_kernel_cmdline_reaches_the_agent_which_extracts(string containerd)
    {
        Runtimes.SkipUnlessAvailable(Runtimes.Spinbox);
        var instance = await instances.Get(containerd);
        using var files = new HostFiles();
        var myapp = files.Script("myapp", $"echo myapp {files.Token}; stat -c %a \"$0\"");
        var id = ContainerRun.NewId(containerd, Runtimes.Spinbox, "extras-force");

        var run = await SpinboxCtr.RunRmAsync(instance, id,
            SpinboxCtr.Labels((ExtrasKey, HostFiles.ExtrasJson(("/usr/local/bin/myapp", myapp, 493))),
                ("io.spin.vm.kernel_args", "spin.extras_force=1")),
            ["sh", "-c", "cat /proc/cmdline; /usr/local/bin/myapp"]);

        Assert.True(run.ExitCode == 0, run.Describe());
        var lines = run.Stdout.Split('\n');
        Assert.Contains("spin.extras_force=1", lines[0].Split(' '));
        Assert.Equal(["myapp " + files.Token, "755", ""], lines[1..]);
        var console = await File.ReadAllTextAsync(SpinboxHostPaths.Load().ConsoleLog(id));
        // src/GuestAgent/Extras/ExtrasService.cs: "extras: N files from DEVICE in T ms" when it extracted
        Assert.Matches(@"spinbox-agent: extras: 1 files from /dev/\S+ in \d+ ms", console);
        Assert.DoesNotContain("extras: already extracted this boot", console);
    }

    private static async Task<string> Sha256Async(string path)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream));
    }

    private static List<(string Name, int Mode)> TarEntries(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new TarReader(stream);
        var entries = new List<(string, int)>();
        while (reader.GetNextEntry() is { } entry) entries.Add((entry.Name, (int)entry.Mode));
        return entries;
    }
}
