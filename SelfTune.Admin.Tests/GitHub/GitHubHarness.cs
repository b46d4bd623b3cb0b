using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// The app wired to a fresh fake GitHub: App credentials, API and web base URLs point at the fake, and retries and
/// polling are fast. One per test class (IAsyncLifetime) — tests create their own installations and repositories.
/// </summary>
public class GitHubHarness : IAsyncLifetime
{
    readonly bool appConfigured;

    public GitHubHarness() : this(appConfigured: true) { }

    /// <param name="appConfigured">False: the app knows where the fake is but has no App settings (see <see cref="UnconfiguredGitHubHarness"/>).</param>
    protected GitHubHarness(bool appConfigured) => this.appConfigured = appConfigured;

    /// <summary>Further app settings, applied before <see cref="InitializeAsync"/> starts the app.</summary>
    public Dictionary<string, string?> AppSettings { get; } = new();
    /// <summary>Runs on the app before it starts (e.g. <c>app => app.UseKestrel(0)</c> for a real port, as the benchmarks need).</summary>
    public Action<AdminAppFactory>? ConfigureApp { get; init; }

    public FakeGitHub GitHub { get; private set; } = null!;
    public AdminAppFactory App { get; private set; } = null!;
    public HttpClient Api { get; private set; } = null!;
    /// <summary>What GitHub's deliveries come through: no API key (GitHub sends none; the app must not need one, nor spend a read on it).</summary>
    HttpClient webhooks = null!;
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public async Task InitializeAsync()
    {
        GitHub = await FakeGitHub.StartAsync();
        App = new AdminAppFactory();
        foreach (var (k, v) in appConfigured ? Settings(GitHub) : ConnectionSettings(GitHub)) App.Settings[k] = v;
        foreach (var (k, v) in AppSettings) App.Settings[k] = v;
        ConfigureApp?.Invoke(App);
        Api = App.CreateClient(App.DevelopmentKey); // starts the host before tests build their contexts on it
        webhooks = App.CreateClient(apiKey: null);
        // bUnit's NavigationManager has base http://localhost/, so that is where the setup page lives.
        GitHub.SetupUrl = new Uri("http://localhost/settings/github");
        // The App asks for user authorization on install: GitHub sends the browser to the callback with a code.
        GitHub.CallbackUrl = new Uri("http://localhost/settings/github/callback");
    }

    /// <summary>
    /// Binds <paramref name="installation"/> through the API the way a script does, for an app started with
    /// <c>GitHub:TrustApiKeyBinding=true</c> (a child process has no signed-in browser for GitHub's callback): the install
    /// link, the fake's redirect, then <c>POST /api/v1/github/installations</c> with its state.
    /// </summary>
    public static async Task BindByApiKeyAsync(FakeGitHub gh, HttpClient api, FakeInstallation installation)
    {
        var link = await api.GetFromJsonAsync<JsonObject>("/api/v1/github/install-url");
        gh.NextInstallForBrowser = installation;
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var redirect = await browser.GetAsync(link!["url"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        var query = System.Web.HttpUtility.ParseQueryString(redirect.Headers.Location!.Query);
        using var response = await api.PostAsJsonAsync("/api/v1/github/installations", new
        {
            installation_id = long.Parse(query["installation_id"]!, CultureInfo.InvariantCulture),
            account_login = installation.AccountLogin, account_type = installation.AccountType, state = query["state"],
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The fake's App credentials and <see cref="ConnectionSettings"/>: the app acts as the fake's App.</summary>
    public static Dictionary<string, string?> Settings(FakeGitHub github)
    {
        var settings = ConnectionSettings(github);
        settings["GitHub:AppId"] = github.AppId.ToString();
        settings["GitHub:AppSlug"] = github.AppSlug;
        settings["GitHub:PrivateKey"] = github.PrivateKeyPem;
        settings["GitHub:WebhookSecret"] = github.WebhookSecret;
        settings["GitHub:ClientId"] = github.ClientId;
        settings["GitHub:ClientSecret"] = github.ClientSecret;
        return settings;
    }

    /// <summary>Where the fake is, with fast retries and polling; no App settings.</summary>
    public static Dictionary<string, string?> ConnectionSettings(FakeGitHub github) => new()
    {
        ["GitHub:ApiBaseUrl"] = github.BaseUrl.ToString(),
        ["GitHub:WebBaseUrl"] = github.BaseUrl.ToString(),
        ["GitHub:RetryBaseDelay"] = "00:00:00.050",
        ["GitHub:AttemptTimeout"] = "00:00:03",
        ["GitHub:ReconcileInterval"] = "00:00:00",
        // The fault tests and benchmarks push hundreds of commits a minute to one installation; GitHub's limit of 80
        // writes a minute (InstallationWriteLimiter) has its own tests.
        ["GitHub:WritesPerMinute"] = "100000",
        ["Jobs:PollInterval"] = "00:00:00.200",
        ["Jobs:RetryBaseDelay"] = "00:00:00.100",
    };

    public async Task DisposeAsync()
    {
        foreach (var browser in browsers.Values) browser.Dispose();
        Api.Dispose();
        webhooks.Dispose();
        await App.DisposeAsync();
        await GitHub.DisposeAsync();
    }

    public static Dictionary<string, byte[]> Skill(string name, string extraFile = "README.md", string extra = "hello") => new()
    {
        ["SKILL.md"] = Encoding.UTF8.GetBytes($"---\nname: {name}\ndescription: A test skill\n---\n# {name}\n\nDo the thing.\n"),
        [extraFile] = Encoding.UTF8.GetBytes(extra),
    };

    /// <summary>What GitHub's install page sent the browser back with (to the App's callback).</summary>
    public sealed record BrowserInstall(long InstallationId, string State, string Code, Uri Callback)
    {
        public void Deconstruct(out long installationId, out string state) => (installationId, state) = (InstallationId, State);
    }

    /// <summary>The GitHub user the harness signs in on GitHub to install <paramref name="installation"/>: its own account, or an admin of the organization.</summary>
    public static string InstallerOf(FakeInstallation installation) =>
        installation.AccountType == "User" ? installation.AccountLogin : "admin-of-" + installation.AccountLogin;

    /// <summary>
    /// The browser install round trip on GitHub's side: our install link (asked for with <paramref name="api"/>'s key) → the
    /// fake's install page, where <paramref name="githubUser"/> (default <see cref="InstallerOf"/>) installs → GitHub's
    /// redirect to the App's callback with a code, the installation and our state. The callback itself is not called.
    /// </summary>
    public async Task<BrowserInstall> InstallThroughBrowserAsync(HttpClient api, FakeInstallation installation, string? githubUser = null)
    {
        var link = await api.GetFromJsonAsync<JsonObject>("/api/v1/github/install-url");
        GitHub.NextInstallForBrowser = installation;
        GitHub.BrowserUser = githubUser ?? InstallerOf(installation);
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var response = await browser.GetAsync(link!["url"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.Equal("/settings/github/callback", location.AbsolutePath);
        var query = System.Web.HttpUtility.ParseQueryString(location.Query);
        Assert.Equal("install", query["setup_action"]);
        return new BrowserInstall(long.Parse(query["installation_id"]!), query["state"]!, query["code"]!, location);
    }

    readonly Dictionary<Guid, HttpClient> browsers = new();

    /// <summary>A browser signed in as an admin of the org of <paramref name="api"/>'s key (one per org).</summary>
    public async Task<HttpClient> BrowserAsync(HttpClient api)
    {
        var orgId = await SignedInBrowser.OrgOfAsync(App, api);
        if (!browsers.TryGetValue(orgId, out var browser)) browsers[orgId] = browser = (await SignedInBrowser.CreateAsync(App, orgId)).Browser;
        return browser;
    }

    /// <summary>Sends <paramref name="browser"/> to the App's callback as GitHub would; returns where the callback sent it next.</summary>
    public static async Task<Uri> CallbackAsync(HttpClient browser, Uri callback)
    {
        using var response = await browser.GetAsync(callback.IsAbsoluteUri ? callback.PathAndQuery : callback.OriginalString);
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"The callback answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return response.Headers.Location!;
    }

    /// <summary>
    /// Binds the way a person does: the install round trip, GitHub's callback in a browser signed in to the org of
    /// <paramref name="api"/> (which proves and binds), then the API call a script makes with the same state (200, the row).
    /// </summary>
    public async Task<JsonObject> BindAsync(HttpClient api, FakeInstallation installation)
    {
        var install = await InstallThroughBrowserAsync(api, installation);
        var outcome = await CallbackAsync(await BrowserAsync(api), install.Callback);
        Assert.StartsWith($"/settings/github?bound={installation.Id}", outcome.OriginalString); // "&already=1" when bound before
        var response = await api.PostAsJsonAsync("/api/v1/github/installations",
            new { installation_id = install.InstallationId, account_login = installation.AccountLogin, account_type = installation.AccountType, state = install.State });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public async Task<string> CreateEntryAsync(HttpClient api, string name)
    {
        var response = await api.PostAsJsonAsync("/api/v1/registry", new { name, description = "test" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    /// <summary>
    /// Creates the connection through the API (201 asserted) and answers the connection object.
    /// </summary>
    /// <param name="firstSync">
    /// Null: as a person does; with auto-publish on the first sync is queued and runs in the background (not waited for).
    /// True: the same, waited for until it has finished. False (tests whose push or tag is meant to be the first publish):
    /// created with auto-publish off, which queues no first sync, then switched on through the API (<c>PATCH</c>) unless
    /// <paramref name="extra"/> sets <c>auto_publish</c> itself; the answer is then the PATCH's connection object.
    /// </param>
    public async Task<JsonObject> ConnectAsync(HttpClient api, string entryId, FakeInstallation installation, FakeRepo repo, object? extra = null,
        bool? firstSync = null)
    {
        var body = new JsonObject { ["entry_id"] = entryId, ["installation_id"] = installation.Id, ["repo_full_name"] = repo.FullName };
        if (extra is not null)
            foreach (var (k, v) in JsonSerializer.SerializeToNode(extra, Json)!.AsObject()) body[k] = v?.DeepClone();
        var switchOn = firstSync == false && !body.ContainsKey("auto_publish");
        if (switchOn) body["auto_publish"] = false;
        var response = await api.PostAsJsonAsync("/api/v1/github/connections", body);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var connection = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        var connectionId = Guid.Parse(connection["id"]!.GetValue<string>());
        if (switchOn)
        {
            using var on = await api.PatchAsJsonAsync($"/api/v1/github/connections/{connectionId}", new { auto_publish = true });
            Assert.True(on.StatusCode == HttpStatusCode.OK, await on.Content.ReadAsStringAsync());
            connection = (await on.Content.ReadFromJsonAsync<JsonObject>())!;
        }
        if (firstSync == true) await WaitForConnectionJobsAsync(connectionId);
        return connection;
    }

    /// <summary>Sends a signed webhook the way GitHub does.</summary>
    public async Task<HttpResponseMessage> SendWebhookAsync(string eventName, string payload, string? deliveryId = null)
    {
        using var request = GitHub.CreateWebhookRequest(new Uri(Api.BaseAddress!, "/api/v1/github/webhook"), eventName, payload, deliveryId);
        return await webhooks.SendAsync(request);
    }

    /// <summary>
    /// Waits (on the app's own attempt notifications, not by polling on a timer) until the connection has
    /// <paramref name="count"/> finished attempts, and returns them newest first.
    /// </summary>
    public async Task<List<PublishAttempt>> WaitForFinishedAttemptsAsync(Guid connectionId, int count, TimeSpan? timeout = null)
    {
        var feed = App.Services.GetRequiredService<SelfTune.Admin.Infrastructure.IChangeFeed>();
        var orgId = await App.WithDbAsync(db => db.Connections.Where(c => c.Id == connectionId).Select(c => c.OrgId).SingleAsync());
        var changed = new SemaphoreSlim(0);
        using var subscription = feed.Subscribe(orgId, [SelfTune.Admin.Infrastructure.ChangeKind.Attempt],
            e => { if (e.ConnectionId == connectionId) changed.Release(); });
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var finished = await App.WithDbAsync(db => Task.FromResult(db.Attempts.Where(a => a.ConnectionId == connectionId
                    && a.Status != AttemptStatus.Queued && a.Status != AttemptStatus.Running).ToList()
                .OrderByDescending(a => a.CreatedAt).ToList()));
            if (finished.Count >= count) return finished;
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await changed.WaitAsync(left))
                throw new TimeoutException($"Connection {connectionId} has {finished.Count} finished attempts, expected {count}.");
        }
    }

    /// <summary>
    /// A real GitHub payload from shared/github-payloads (octokit/webhooks), with only ids, names and SHAs replaced by
    /// the fake's.
    /// </summary>
    public static JsonObject SharedPayload(string relativePath)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "shared", "github-payloads"))) dir = dir.Parent;
        if (dir is null) throw new DirectoryNotFoundException("shared/github-payloads is not beside the repository (CI and sessions place it there).");
        return JsonNode.Parse(File.ReadAllText(Path.Combine(dir.FullName, "shared", "github-payloads", relativePath)))!.AsObject();
    }

    public static string AdaptPush(JsonObject payload, FakeRepo repo, FakeInstallation installation, string refName, string after, string before = FakeWebhookPayloads.ZeroSha)
    {
        payload["ref"] = refName;
        payload["before"] = before;
        payload["after"] = after;
        payload["created"] = before == FakeWebhookPayloads.ZeroSha;
        payload["deleted"] = false;
        payload["installation"]!["id"] = installation.Id;
        var r = payload["repository"]!;
        r["id"] = repo.Id;
        r["name"] = repo.Name;
        r["full_name"] = repo.FullName;
        r["owner"]!["login"] = repo.Owner;
        r["owner"]!["name"] = repo.Owner;
        r["default_branch"] = repo.DefaultBranch;
        // The shared payload is a deletion, which has no head commit; GitHub sends one with every push that names a commit
        // (for a tag, the commit the tag points to), so the adapted push gets one, taken from a real payload.
        if (payload["head_commit"] is not JsonObject head)
            payload["head_commit"] = head = SharedPayload("push/with-new-branch.payload.json")["head_commit"]!.AsObject().DeepClone().AsObject();
        head["id"] = after;
        return payload.ToJsonString();
    }

    // ---------------------------------------------------------------- Helpers for the engine's tests

    /// <summary>What <see cref="ConnectRepoAsync"/> set up: a repository with a skill on main, bound and connected.</summary>
    public sealed record Connected(FakeInstallation Installation, FakeRepo Repo, string Sha, string EntryId, Guid ConnectionId, JsonObject Connection);

    /// <summary>
    /// A new installation (unless one is given) with a repository <paramref name="name"/> holding a skill on main, bound
    /// to the org of <paramref name="api"/> through the browser round trip, a registry entry named <paramref name="name"/>
    /// and a connection (with <paramref name="extra"/> connection fields).
    /// </summary>
    /// <param name="firstSync">
    /// True: created as a person does, so it publishes at once (the head and the newest matching tag); this waits until
    /// that first sync has finished. False (the engine's tests, whose push or tag is meant to be the first publish):
    /// nothing is published until the test's own webhook (see <see cref="ConnectAsync"/>).
    /// </param>
    public async Task<Connected> ConnectRepoAsync(HttpClient api, string name, object? extra = null, FakeInstallation? installation = null,
        bool checksWrite = true, bool statusesWrite = true, IDictionary<string, byte[]>? files = null, bool firstSync = false)
    {
        var bind = installation is null;
        installation ??= GitHub.AddInstallation("gh-" + name, checksWrite: checksWrite, statusesWrite: statusesWrite);
        var repo = GitHub.AddRepo(installation, installation.AccountLogin, name);
        var sha = GitHub.PushCommit(repo, "main", files ?? Skill(name));
        if (bind) await BindAsync(api, installation);
        var entryId = await CreateEntryAsync(api, name);
        var connection = await ConnectAsync(api, entryId, installation, repo, extra, firstSync);
        return new Connected(installation, repo, sha, entryId, Guid.Parse(connection["id"]!.GetValue<string>()), connection);
    }

    /// <summary>Sends a real push payload (push/with-installation) for <paramref name="refName"/> at <paramref name="sha"/>; asserts 202 and returns the delivery id.</summary>
    public async Task<string> SendPushAsync(FakeInstallation installation, FakeRepo repo, string refName, string sha)
    {
        var deliveryId = Guid.NewGuid().ToString();
        var payload = AdaptPush(SharedPayload("push/with-installation.payload.json"), repo, installation, refName, sha);
        using var response = await SendWebhookAsync("push", payload, deliveryId);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return deliveryId;
    }

    /// <summary>Sends a signed webhook; asserts <paramref name="expected"/> and returns the delivery id.</summary>
    public async Task<string> SendAsync(string eventName, string payload, HttpStatusCode expected = HttpStatusCode.Accepted)
    {
        var deliveryId = Guid.NewGuid().ToString();
        using var response = await SendWebhookAsync(eventName, payload, deliveryId);
        Assert.True(response.StatusCode == expected, $"{eventName}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return deliveryId;
    }

    /// <summary>
    /// Waits until the stored delivery has been processed by its background job (JobQueue.WaitForCompletionAsync on the
    /// "github.webhook" job that names the delivery row), then returns the row as stored.
    /// </summary>
    public async Task<WebhookDelivery> WaitForDeliveryAsync(string deliveryId, TimeSpan? timeout = null)
    {
        var row = await App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        if (row.Outcome != DeliveryOutcome.Queued) return row;
        var rowId = row.Id.ToString();
        var job = await App.WithDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.Kind == PublishJobs.Webhook && j.Payload.Contains(rowId)));
        var done = await App.Services.GetRequiredService<JobQueue>().WaitForCompletionAsync(job.Id, timeout ?? TimeSpan.FromSeconds(30));
        Assert.True(done.State == JobState.Succeeded, $"The webhook job for {deliveryId} ended {done.State}: {done.LastError}");
        return await App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
    }

    /// <summary>Waits until every job queued so far for the connection (publish, sync, reconcile) has finished.</summary>
    public async Task WaitForConnectionJobsAsync(Guid connectionId, TimeSpan? timeout = null)
    {
        var key = PublishJobs.ConcurrencyKey(connectionId);
        var jobs = await App.WithDbAsync(db => db.Jobs.AsNoTracking().Where(j => j.ConcurrencyKey == key).Select(j => j.Id).ToListAsync());
        var queue = App.Services.GetRequiredService<JobQueue>();
        foreach (var id in jobs) await queue.WaitForCompletionAsync(id, timeout ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>Every attempt of the connection as stored, newest first.</summary>
    public Task<List<PublishAttempt>> AttemptsAsync(Guid connectionId) =>
        App.WithDbAsync(db => db.Attempts.AsNoTracking().Where(a => a.ConnectionId == connectionId).ToListAsync())
            .ContinueWith(t => t.Result.OrderByDescending(a => a.CreatedAt).ToList());

    /// <summary>The entry's versions from the registry API.</summary>
    public static async Task<List<JsonObject>> VersionsAsync(HttpClient api, string entryId)
    {
        var body = await api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{entryId}/versions");
        return body!["versions"]!.AsArray().Select(v => v!.AsObject()).ToList();
    }

    /// <summary>GET /api/v1/github/connections/{id}.</summary>
    public static async Task<JsonObject> GetConnectionAsync(HttpClient api, Guid connectionId) =>
        (await api.GetFromJsonAsync<JsonObject>($"/api/v1/github/connections/{connectionId}"))!;

    /// <summary>Asserts a problem-details answer with <paramref name="status"/> and <paramref name="code"/>; returns its body.</summary>
    public static async Task<JsonObject> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status} {code}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(text)!.AsObject();
        Assert.Equal(code, body["code"]?.GetValue<string>());
        return body;
    }

    /// <summary>A fresh install state for the org of <paramref name="api"/> (GET install-url).</summary>
    public static async Task<string> IssueStateAsync(HttpClient api) =>
        (await api.GetFromJsonAsync<JsonObject>("/api/v1/github/install-url"))!["state"]!.GetValue<string>();

    /// <summary>The installation part of a shared payload, pointed at the fake's installation.</summary>
    public static void AdaptInstallation(JsonObject payload, FakeInstallation installation)
    {
        if (payload["installation"] is not JsonObject i) payload["installation"] = i = new JsonObject();
        i["id"] = installation.Id;
        if (i["account"] is JsonObject account)
        {
            account["login"] = installation.AccountLogin;
            account["id"] = installation.AccountId;
            account["type"] = installation.AccountType;
        }
        if (i.ContainsKey("target_type")) i["target_type"] = installation.AccountType;
        if (i.ContainsKey("target_id")) i["target_id"] = installation.AccountId;
    }

    /// <summary>A repository object of a shared payload, pointed at the fake's repository.</summary>
    public static void AdaptRepository(JsonNode repository, FakeRepo repo)
    {
        repository["id"] = repo.Id;
        repository["name"] = repo.Name;
        repository["full_name"] = repo.FullName;
        if (repository["owner"] is JsonObject owner) owner["login"] = repo.Owner;
        if (repository.AsObject().ContainsKey("default_branch")) repository["default_branch"] = repo.DefaultBranch;
    }
}

/// <summary>The app pointed at a fake GitHub but without App settings: the not-configured state and the manifest flow.</summary>
public sealed class UnconfiguredGitHubHarness() : GitHubHarness(appConfigured: false);
