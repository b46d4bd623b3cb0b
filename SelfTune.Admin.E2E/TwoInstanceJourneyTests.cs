using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Npgsql;
using SelfTune.Admin.Auth;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Tests.Fakes;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>A browser journey that needs PostgreSQL (several instances on one database); ./test.sh runs it.</summary>
public sealed class PostgresE2EFactAttribute : FactAttribute
{
    public PostgresE2EFactAttribute()
    {
        if (!TwoInstanceJourneyTests.HasPostgres) Skip = "Needs PostgreSQL (SELFTUNE_TEST_DATABASE=postgres and SELFTUNE_TEST_POSTGRES; ./test.sh sets both).";
    }
}

/// <summary>
/// Issue 11, behind a balancer: the browser signs in on instance A and keeps its cookie on instance B (one site, two
/// processes' worth of hosts: they share only the PostgreSQL database and the archive folder); a connection page open on B
/// shows the version A's worker publishes, without a reload, because the change travels over PostgreSQL NOTIFY.
/// </summary>
public sealed class TwoInstanceJourneyTests : IAsyncLifetime
{
    public static bool HasPostgres { get; } =
        string.Equals(Environment.GetEnvironmentVariable("SELFTUNE_TEST_DATABASE"), "postgres", StringComparison.OrdinalIgnoreCase)
        && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("SELFTUNE_TEST_POSTGRES"));

    static string Server => Environment.GetEnvironmentVariable("SELFTUNE_TEST_POSTGRES")!;


    readonly string database = "selftune_e2e_" + Guid.NewGuid().ToString("N");
    readonly string archives = Path.Combine(Path.GetTempPath(), "selftune-e2e", "archives-" + Guid.NewGuid().ToString("N"));
    readonly string apiKey = ApiKeyFormat.Generate();
    FakeGitHub gh = null!;
    InstanceApp? a, b;

    public async Task InitializeAsync()
    {
        if (!HasPostgres) return;
        gh = await FakeGitHub.StartAsync();
        await ExecuteOnServerAsync($"CREATE DATABASE \"{database}\"");
        var connectionString = new NpgsqlConnectionStringBuilder(Server) { Database = database }.ConnectionString;
        // A first (migrates and seeds), then B. Only A runs jobs, so whatever is published is published by A's worker.
        a = new InstanceApp(gh, connectionString, archives, apiKey, runsJobs: true);
        await a.InitializeAsync();
        b = new InstanceApp(gh, connectionString, archives, apiKey, runsJobs: false);
        await b.InitializeAsync();
        gh.SetupUrl = new Uri(new Uri(a.BaseUrl), "/settings/github");
    }

    public async Task DisposeAsync()
    {
        if (!HasPostgres) return;
        foreach (var app in new[] { b, a })
            if (app is not null) await ((IAsyncLifetime)app).DisposeAsync();
        await gh.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await ExecuteOnServerAsync($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        try { Directory.Delete(archives, recursive: true); } catch (IOException) { }
    }

    [PostgresE2EFact]
    public async Task A_page_open_on_instance_B_shows_a_version_published_by_instance_A_without_reload_and_A_cookie_signs_in_on_B()
    {
        // Set-up through A's API: an installation bound, a repository connected with auto-publish.
        using var api = new HttpClient { BaseAddress = new Uri(a!.BaseUrl) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        var installation = gh.AddInstallation("two-co");
        await BindAsync(api, installation);
        var repo = gh.AddRepo(installation, installation.AccountLogin, "shared-page");
        var first = gh.PushCommit(repo, "main", GitHubScenario.SkillFiles("first release"), "First release");
        var entryId = (await CreatedAsync(await api.PostAsJsonAsync("/api/v1/registry", new { name = "shared-page", description = "On two instances" })))["id"]!.GetValue<string>();
        var connectionId = (await CreatedAsync(await api.PostAsJsonAsync("/api/v1/github/connections", new
        {
            entry_id = entryId, installation_id = installation.Id, repo_full_name = repo.FullName, auto_publish = true, write_back_enabled = false,
        })))["id"]!.GetValue<string>();

        // Signed in on A; the cookie A issued opens B's page (cookies are per host, not per port: one site behind a balancer).
        var page = await a.NewPageAsync();
        page.SetDefaultTimeout(LoadedMachineTimeout);
        page.SetDefaultNavigationTimeout(LoadedMachineTimeout);
        await page.GotoAsync("/account/login?returnUrl=%2F");
        await page.GetByTestId("dev-signin").ClickAsync();
        await CircuitReadyAsync(page);
        await page.GotoAsync(new Uri(new Uri(b!.BaseUrl), $"/connections/{connectionId}").ToString());
        await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(b.BaseUrl.TrimEnd('/')) + "/connections/"), new() { Timeout = LoadedMachineTimeout });
        await Expect(page.GetByTestId("connection-title")).ToHaveTextAsync("shared-page", new() { Timeout = LoadedMachineTimeout });
        await CircuitReadyAsync(page);
        // Creating the connection published its head at once (A's worker ran the first sync); B's page shows it.
        var firstVersion = page.Locator("[data-testid=attempt]").Filter(new() { HasText = PublishService.PrereleasePrefix + first[..7] });
        await Expect(firstVersion.GetByTestId("attempt-status")).ToHaveAttributeAsync("data-status", "published", new() { Timeout = LoadedMachineTimeout });
        await page.EvaluateAsync("() => window.loadedOnce = true"); // gone if the page reloads

        // A push delivered to A: A's worker publishes (B runs no jobs), and B's page shows it.
        var sha = gh.PushCommit(repo, "main", GitHubScenario.SkillFiles("published by A"), "Published by A");
        using (var webhook = new HttpClient())
        using (var request = gh.CreateWebhookRequest(new Uri(new Uri(a.BaseUrl), "/api/v1/github/webhook"), "push", gh.Payloads.Push(repo, "main")))
        using (var response = await webhook.SendAsync(request))
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var version = PublishService.PrereleasePrefix + sha[..7];
        var attempt = page.Locator("[data-testid=attempt]").Filter(new() { HasText = version });
        await Expect(attempt).ToHaveCountAsync(1, new() { Timeout = LoadedMachineTimeout });
        await Expect(attempt.GetByTestId("attempt-status")).ToHaveAttributeAsync("data-status", "published", new() { Timeout = LoadedMachineTimeout });
        Assert.True(await page.EvaluateAsync<bool>("() => window.loadedOnce === true"), "the page was reloaded");
        await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(b.BaseUrl.TrimEnd('/'))));
        await E2EApp.ScreenshotAsync(page, "two-instances-b-shows-a-publish");
    }

    /// <summary>
    /// For every wait here: two cold hosts in one process, and a publish that is a background job. On a 2-core machine
    /// running other suites (load average 70) a host's first circuit took over E2EApp's 10 s and the sign-in's redirect
    /// over Playwright's 30 s. A passing run never waits it out.
    /// </summary>
    const float LoadedMachineTimeout = 90_000;

    /// <summary>As <see cref="E2EApp.WaitForCircuitAsync"/>, with <see cref="LoadedMachineTimeout"/>.</summary>
    static Task CircuitReadyAsync(Microsoft.Playwright.IPage page) =>
        Expect(page.Locator("html[data-circuit=ready]")).ToHaveCountAsync(1, new() { Timeout = LoadedMachineTimeout });

    /// <summary>Binds by API key, as GitHubHarness.BindByApiKeyAsync in the integration tests (GitHub:TrustApiKeyBinding is on).</summary>
    async Task BindAsync(HttpClient api, FakeInstallation installation)
    {
        var link = await api.GetFromJsonAsync<JsonObject>("/api/v1/github/install-url");
        gh.NextInstallForBrowser = installation;
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var redirect = await browser.GetAsync(link!["url"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        var query = System.Web.HttpUtility.ParseQueryString(redirect.Headers.Location!.Query);
        await CreatedAsync(await api.PostAsJsonAsync("/api/v1/github/installations", new
        {
            installation_id = long.Parse(query["installation_id"]!, System.Globalization.CultureInfo.InvariantCulture),
            account_login = installation.AccountLogin, account_type = installation.AccountType, state = query["state"],
        }));
    }

    static async Task<JsonObject> CreatedAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {body}");
            return JsonNode.Parse(body)!.AsObject();
        }
    }

    static async Task ExecuteOnServerAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Server) { Database = "postgres", Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>One instance: its own host, port and data folder (staging); the database and the archive folder are shared.</summary>
    sealed class InstanceApp(FakeGitHub gh, string connectionString, string archives, string apiKey, bool runsJobs) : E2EApp
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Database:Provider", "Postgres");
            builder.UseSetting("ConnectionStrings:SelfTune", connectionString);
            builder.UseSetting("Storage:ArchivePath", archives);
            builder.UseSetting("Development:ApiKey", apiKey);
            builder.UseSetting("Jobs:Enabled", runsJobs ? "true" : "false");
            builder.UseSetting("Jobs:PollInterval", "00:00:00.200");
            builder.UseSetting("GitHub:AppId", gh.AppId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            builder.UseSetting("GitHub:AppSlug", gh.AppSlug);
            builder.UseSetting("GitHub:PrivateKey", gh.PrivateKeyPem);
            builder.UseSetting("GitHub:WebhookSecret", gh.WebhookSecret);
            builder.UseSetting("GitHub:ClientId", gh.ClientId);
            builder.UseSetting("GitHub:ClientSecret", gh.ClientSecret);
            builder.UseSetting("GitHub:ApiBaseUrl", gh.BaseUrl.ToString());
            builder.UseSetting("GitHub:WebBaseUrl", gh.BaseUrl.ToString());
            builder.UseSetting("GitHub:TrustApiKeyBinding", "true"); // binding is not what this test is about
            builder.UseSetting("GitHub:ReconcileInterval", "00:00:00");
        }
    }
}
