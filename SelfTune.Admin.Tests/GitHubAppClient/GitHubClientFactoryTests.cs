using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Octokit;
using SelfTune.Admin.GitHub.Client;

namespace SelfTune.Admin.Tests.GitHubAppClient;

public class GitHubClientFactoryTests
{
    private const string TokenPath = "/api/v3/app/installations/1/access_tokens";

    /// <summary>Serves installation tokens "ghs_1", "ghs_2", ... expiring <paramref name="lifetime"/> from now.</summary>
    private static Task<LoopbackServer> TokenServer(TimeSpan lifetime, TimeSpan? latency = null, Func<HttpContext, Task>? other = null)
    {
        var issued = 0;
        return LoopbackServer.StartAsync(async (ctx, _) =>
        {
            if (ctx.Request.Method == "POST" && ctx.Request.Path == TokenPath)
            {
                if (latency is { } l) await Task.Delay(l);
                var n = Interlocked.Increment(ref issued);
                ctx.Response.StatusCode = 201;
                ctx.Response.ContentType = "application/json";
                var expires = DateTimeOffset.UtcNow.Add(lifetime).ToString("yyyy-MM-ddTHH:mm:ssZ");
                await ctx.Response.WriteAsync($$"""{"token":"ghs_{{n}}","expires_at":"{{expires}}"}""");
                return;
            }
            if (other is not null) await other(ctx);
            else ctx.Response.StatusCode = 404;
        });
    }

    private static int TokenRequests(LoopbackServer server) => server.Requests.Count(r => r.PathAndQuery == TokenPath);

    [Fact]
    public void Missing_settings_are_listed_by_config_key()
    {
        Assert.Equal(["GitHub:AppId", "GitHub:AppSlug", "GitHub:PrivateKey", "GitHub:WebhookSecret"], new GitHubOptions().MissingSettings());
        Assert.Empty(new GitHubOptions { AppId = 1, AppSlug = "a", PrivateKeyPath = "/k.pem", WebhookSecret = "s" }.MissingSettings());
        Assert.Equal(["GitHub:WebhookSecret"], new GitHubOptions { AppId = 1, AppSlug = "a", PrivateKey = "x" }.MissingSettings());
    }

    [Fact]
    public void Options_bind_from_the_GitHub_section_with_defaults()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["GitHub:AppId"] = "7", ["GitHub:MaxRetryDelay"] = "00:00:10", ["GitHub:TrustApiKeyBinding"] = "true",
        }).Build();
        using var services = new ServiceCollection().AddGitHubClient(config).BuildServiceProvider();
        var o = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GitHubOptions>>().Value;

        Assert.Equal(7, o.AppId);
        Assert.Equal(TimeSpan.FromSeconds(10), o.MaxRetryDelay);
        Assert.True(o.TrustApiKeyBinding);
        Assert.Equal(new Uri("https://api.github.com/"), o.ApiBaseUrl);
        Assert.Equal(new Uri("https://github.com/"), o.WebBaseUrl);
        Assert.Equal(TimeSpan.FromSeconds(30), o.AttemptTimeout);
        Assert.Equal(4, o.MaxRetries);
        Assert.Equal(TimeSpan.FromSeconds(1), o.RetryBaseDelay);
    }

    [Fact]
    public async Task Unconfigured_app_throws_with_missing_settings()
    {
        using var services = TestServices.Build(new Uri("http://127.0.0.1:9/"), configured: false,
            extra: new Dictionary<string, string?> { ["GitHub:AppId"] = "5" });
        var factory = services.GetRequiredService<IGitHubClientFactory>();

        var e = await Assert.ThrowsAsync<GitHubNotConfiguredException>(() => factory.CreateAppClientAsync(default));
        Assert.Equal(["GitHub:AppSlug", "GitHub:PrivateKey", "GitHub:WebhookSecret"], e.MissingSettings);
        await Assert.ThrowsAsync<GitHubNotConfiguredException>(() => factory.CreateInstallationClientAsync(1, default));
    }

    [Fact]
    public async Task Private_key_can_come_from_a_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gh-key-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(path, TestServices.Pem);
        try
        {
            using var services = TestServices.Build(new Uri("http://127.0.0.1:9/"), extra: new Dictionary<string, string?>
            {
                ["GitHub:PrivateKey"] = null, ["GitHub:PrivateKeyPath"] = path,
            });
            var creds = await services.GetRequiredService<IGitHubAppCredentialSource>().GetAsync(default);
            Assert.Equal(TestServices.Pem, creds!.PrivateKeyPem);
            Assert.Equal(42, creds.AppId);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Installation_token_is_cached_and_used()
    {
        await using var server = await TokenServer(TimeSpan.FromHours(1), other: async ctx =>
        {
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync("""{"total_count":0,"repositories":[]}""");
        });
        using var services = TestServices.Build(server.BaseUrl);
        var factory = services.GetRequiredService<IGitHubClientFactory>();

        var first = await factory.CreateInstallationClientAsync(1, default);
        await factory.CreateInstallationClientAsync(1, default);
        Assert.Equal(1, TokenRequests(server));

        await first.GitHubApps.Installation.GetAllRepositoriesForCurrent();
        var tokenRequest = server.Requests.First(r => r.PathAndQuery == TokenPath);
        Assert.StartsWith("Bearer ey", tokenRequest.Authorization);
        Assert.Contains("SelfTune-Admin", tokenRequest.UserAgent);
        var apiRequest = server.Requests.First(r => r.PathAndQuery.StartsWith("/api/v3/installation/repositories"));
        Assert.Equal("token ghs_1", apiRequest.Authorization, ignoreCase: true);

        factory.ForgetInstallationToken(1);
        Assert.Equal("ghs_2", (await factory.GetInstallationTokenAsync(1, default)).Token);
        Assert.Equal(2, TokenRequests(server));
    }

    [Fact]
    public async Task Token_expiring_within_five_minutes_is_not_reused()
    {
        await using var server = await TokenServer(TimeSpan.FromMinutes(4));
        using var services = TestServices.Build(server.BaseUrl);
        var factory = services.GetRequiredService<IGitHubClientFactory>();

        await factory.CreateInstallationClientAsync(1, default);
        await factory.CreateInstallationClientAsync(1, default);

        Assert.Equal(2, TokenRequests(server));
    }

    [Fact]
    public async Task Concurrent_callers_share_one_token_request()
    {
        await using var server = await TokenServer(TimeSpan.FromHours(1), latency: TimeSpan.FromMilliseconds(200));
        using var services = TestServices.Build(server.BaseUrl);
        var factory = services.GetRequiredService<IGitHubClientFactory>();

        var tokens = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => factory.GetInstallationTokenAsync(1, default)));

        Assert.All(tokens, t => Assert.Equal("ghs_1", t.Token));
        Assert.Equal(1, TokenRequests(server));
    }

    [Fact]
    public async Task App_client_uses_jwt_and_the_retry_pipeline()
    {
        var calls = 0;
        await using var server = await LoopbackServer.StartAsync(async (ctx, _) =>
        {
            if (Interlocked.Increment(ref calls) == 1) { ctx.Response.StatusCode = 502; return; }
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync("""{"id":42,"slug":"selftune-test","name":"SelfTune"}""");
        });
        using var services = TestServices.Build(server.BaseUrl);

        var app = await services.GetRequiredService<IGitHubClientFactory>().CreateAppClientAsync(default);
        var current = await app.GitHubApps.GetCurrent();

        Assert.Equal("selftune-test", current.Slug);
        Assert.Equal(2, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal("/api/v3/app", r.PathAndQuery));
        Assert.All(server.Requests, r => Assert.StartsWith("Bearer ", r.Authorization));
    }

    [Fact]
    public async Task Tarball_follows_redirect_without_leaking_the_token()
    {
        var archive = Encoding.UTF8.GetBytes(new string('x', 100_000));
        Uri? codeload = null;
        await using var server = await TokenServer(TimeSpan.FromHours(1), other: async ctx =>
        {
            if (ctx.Request.Path == "/api/v3/repos/acme/app/tarball/abc123")
            {
                ctx.Response.StatusCode = 302;
                ctx.Response.Headers.Location = new Uri(codeload!, "codeload/acme/app/legacy.tar.gz/abc123?token=short").ToString();
                return;
            }
            if (ctx.Request.Path.StartsWithSegments("/codeload"))
            {
                ctx.Response.ContentType = "application/x-gzip";
                await ctx.Response.Body.WriteAsync(archive);
                return;
            }
            ctx.Response.StatusCode = 404;
        });
        // Same server under another host name, as codeload.github.com is for api.github.com.
        codeload = new UriBuilder(server.BaseUrl) { Host = "localhost" }.Uri;
        using var services = TestServices.Build(server.BaseUrl);
        var factory = services.GetRequiredService<IGitHubClientFactory>();

        await using (var stream = await factory.DownloadTarballAsync(1, "acme", "app", "abc123", default))
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            Assert.Equal(archive, copy.ToArray());
        }

        var api = server.Requests.Single(r => r.PathAndQuery.Contains("/tarball/"));
        Assert.Equal("token ghs_1", api.Authorization);
        var download = server.Requests.Single(r => r.PathAndQuery.StartsWith("/codeload/"));
        Assert.Null(download.Authorization);
        Assert.EndsWith("?token=short", download.PathAndQuery);

        var e = await Assert.ThrowsAsync<NotFoundException>(() => factory.DownloadTarballAsync(1, "acme", "missing", "abc123", default));
        Assert.Equal(HttpStatusCode.NotFound, e.StatusCode);
        Assert.Contains("acme/missing@abc123", e.Message);
    }

    [Fact]
    public async Task Slow_tarball_body_is_not_cut_by_the_attempt_timeout()
    {
        // The per-attempt timeout covers getting the response headers, not streaming a large archive.
        await using var server = await TokenServer(TimeSpan.FromHours(1), other: async ctx =>
        {
            ctx.Response.ContentType = "application/x-gzip";
            for (var i = 0; i < 6; i++)
            {
                await ctx.Response.Body.WriteAsync(new byte[1000]);
                await ctx.Response.Body.FlushAsync();
                await Task.Delay(150);
            }
        });
        using var services = TestServices.Build(server.BaseUrl, extra: new Dictionary<string, string?> { ["GitHub:AttemptTimeout"] = "00:00:00.300" });
        var factory = services.GetRequiredService<IGitHubClientFactory>();

        await using var stream = await factory.DownloadTarballAsync(1, "acme", "app", "abc", default);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);

        Assert.Equal(6000, copy.Length);
    }

    [Fact]
    public void Api_root_matches_octokit_conventions()
    {
        Assert.Equal(new Uri("https://api.github.com/"), GitHubClientFactory.ApiRoot(new Uri("https://api.github.com/")));
        Assert.Equal(new Uri("https://api.github.com/"), GitHubClientFactory.ApiRoot(new Uri("https://github.com/")));
        Assert.Equal(new Uri("https://ghe.example/api/v3/"), GitHubClientFactory.ApiRoot(new Uri("https://ghe.example/")));
    }
}
