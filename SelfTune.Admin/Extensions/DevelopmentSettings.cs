using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;

namespace SelfTune.Admin.Extensions;

public static class DevelopmentSettings
{
    /// <summary>
    /// appsettings.Development.json lives at the top of the repository, beside SelfTune.Admin.sln (the design card), not in
    /// the project folder. <c>dotnet run --project SelfTune.Admin</c> and WebApplicationFactory make the project folder the
    /// content root, so in Development, when the folder above is the repository (it holds the .sln), its file is added
    /// right after the host's own appsettings.Development.json source: environment variables, the command line and test
    /// settings still come later and win. Run from bin or a publish folder, the copy the build puts there is the host's own.
    /// </summary>
    public static void AddRepositoryDevelopmentSettings(this WebApplicationBuilder builder)
    {
        var env = builder.Environment;
        if (!env.IsDevelopment()) return;
        var repository = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(env.ContentRootPath));
        if (repository is null || !File.Exists(Path.Combine(repository, "SelfTune.Admin.sln"))) return;

        var sources = builder.Configuration.Sources;
        var hostFile = $"appsettings.{env.EnvironmentName}.json";
        var hostSource = sources.OfType<JsonConfigurationSource>().LastOrDefault(s => s.Path == hostFile);
        // Read at start, like the settings that matter here; no file watcher per host (the tests start many hosts).
        var repositoryFile = new JsonConfigurationSource
        {
            Path = hostFile, Optional = true, ReloadOnChange = false, FileProvider = new PhysicalFileProvider(repository),
        };
        // Without the host's own source (someone cleared them), the lowest place: it must never override anything.
        sources.Insert(hostSource is null ? 0 : sources.IndexOf(hostSource) + 1, repositoryFile);
    }
}
