using System.Net;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>
/// Issue 15: appsettings.Development.json lives once, at the top of the repository beside SelfTune.Admin.sln (the design
/// card), and the app reads it however it is started: <c>dotnet run --project SelfTune.Admin</c> from the repository root
/// (content root = the project folder), and the built app in a bin folder (the copy the build puts beside the dll).
/// </summary>
public sealed class DevelopmentSettingsFileTests
{
    // The value only that file sets (no test setting or environment variable gives it).
    const string FileApiKey = "st_live_development_key_change_me_0000000000000";

    [Fact]
    public void The_file_is_at_the_top_of_the_repository_and_nowhere_else_in_the_source_tree()
    {
        var root = AppProcess.RepositoryRoot;
        Assert.True(File.Exists(Path.Combine(root, "appsettings.Development.json")));
        Assert.Contains(FileApiKey, File.ReadAllText(Path.Combine(root, "appsettings.Development.json")));
        Assert.False(File.Exists(Path.Combine(root, "SelfTune.Admin", "appsettings.Development.json")), "a second copy in the project folder");
    }

    [Theory]
    [InlineData(true)]  // dotnet run --project SelfTune.Admin --no-build, in the repository root
    [InlineData(false)] // dotnet SelfTune.Admin.dll in the test's bin folder
    public async Task The_development_api_key_from_the_file_works_against_the_api(bool fromRepository)
    {
        var dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));
        try
        {
            await using var app = await AppProcess.StartAsync(new Dictionary<string, string?> { ["Storage:DataPath"] = dataPath },
                TimeSpan.FromSeconds(180), fromRepository);
            // dotnet run makes the project folder the content root (the Web SDK's RunWorkingDirectory), so the file is read one
            // level up; from the bin folder it is the copy the build put beside the dll.
            using var api = app.CreateClient(FileApiKey);
            var response = await api.GetAsync("/api/v1/registry");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}\n{app.Output}");
            using var wrongKey = app.CreateClient(FileApiKey[..^1] + "1");
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrongKey.GetAsync("/api/v1/registry")).StatusCode);
        }
        finally
        {
            try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
