namespace Spinbox.EndToEnd.Tests;

/// <summary>Finds the repository root (the folder holding Spinbox.sln) from the test binary's location.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Script(string name) => Path.Combine(Root, "scripts", name);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Spinbox.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"no Spinbox.sln above {AppContext.BaseDirectory}");
    }
}
