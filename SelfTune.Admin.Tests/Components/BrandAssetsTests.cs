using System.Net;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// The brand files live in wwwroot-assets/ at the top of the repository and are linked in as static web assets. In
/// Development the host serves them through the static web assets manifest; a wrong content root there once made
/// /brand/* answer 200 with an empty body, so the logo never showed.
/// </summary>
public sealed class BrandAssetsTests(AdminAppFactory app) : IClassFixture<AdminAppFactory>
{
    [Theory]
    [InlineData("/brand/logo.svg", "image/svg+xml", "<svg")]
    [InlineData("/brand/favicon.svg", "image/svg+xml", "<svg")]
    [InlineData("/brand/theme.css", "text/css", "--selftune-primary")]
    public async Task Brand_assets_are_served_with_their_content(string path, string contentType, string marker)
    {
        using var client = app.CreateClient(apiKey: null);
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(contentType, response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains(marker, body);
        var source = Path.Combine(RepositoryRoot(), "wwwroot-assets", Path.GetFileName(path));
        Assert.Equal(await File.ReadAllTextAsync(source), body);
    }

    static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "wwwroot-assets"))) return dir.FullName;
        throw new DirectoryNotFoundException("wwwroot-assets not found above the test output.");
    }
}
