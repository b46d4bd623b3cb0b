using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// The app wired to a fresh fake GitHub: App credentials, API and web base URLs point at the fake, and retries and
/// polling are fast. One per test class (IAsyncLifetime) — tests create their own installations and repositories.
/// </summary>
public sealed class GitHubHarness : IAsyncLifetime
{
    public FakeGitHub GitHub { get; private set; } = null!;
    public AdminAppFactory App { get; private set; } = null!;
    public HttpClient Api { get; private set; } = null!;
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public async Task InitializeAsync()
    {
        GitHub = await FakeGitHub.StartAsync();
        App = new AdminAppFactory();
        foreach (var (k, v) in Settings(GitHub)) App.Settings[k] = v;
        Api = App.CreateClient(App.DevelopmentKey);
        GitHub.SetupUrl = new Uri("http://localhost/settings/github");
    }

    public static Dictionary<string, string?> Settings(FakeGitHub github) => new()
    {
        ["GitHub:AppId"] = github.AppId.ToString(),
        ["GitHub:AppSlug"] = github.AppSlug,
        ["GitHub:PrivateKey"] = github.PrivateKeyPem,
        ["GitHub:WebhookSecret"] = github.WebhookSecret,
        ["GitHub:ApiBaseUrl"] = github.BaseUrl.ToString(),
        ["GitHub:WebBaseUrl"] = github.BaseUrl.ToString(),
        ["GitHub:RetryBaseDelay"] = "00:00:00.050",
        ["GitHub:AttemptTimeout"] = "00:00:03",
        ["GitHub:ReconcileInterval"] = "00:00:00",
        ["Jobs:PollInterval"] = "00:00:00.200",
        ["Jobs:RetryBaseDelay"] = "00:00:00.100",
    };

    public async Task DisposeAsync()
    {
        Api.Dispose();
        await App.DisposeAsync();
        await GitHub.DisposeAsync();
    }

    public static Dictionary<string, byte[]> Skill(string name, string extraFile = "README.md", string extra = "hello") => new()
    {
        ["SKILL.md"] = Encoding.UTF8.GetBytes($"---\nname: {name}\ndescription: A test skill\n---\n# {name}\n\nDo the thing.\n"),
        [extraFile] = Encoding.UTF8.GetBytes(extra),
    };

    /// <summary>The browser install round trip: our install link → the fake's install page → redirect back with installation_id and state.</summary>
    public async Task<(long InstallationId, string State)> InstallThroughBrowserAsync(HttpClient api, FakeInstallation installation)
    {
        var link = await api.GetFromJsonAsync<JsonObject>("/api/v1/github/install-url");
        GitHub.NextInstallForBrowser = installation;
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var response = await browser.GetAsync(link!["url"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var query = System.Web.HttpUtility.ParseQueryString(response.Headers.Location!.Query);
        Assert.Equal("install", query["setup_action"]);
        return (long.Parse(query["installation_id"]!), query["state"]!);
    }

    public async Task<JsonObject> BindAsync(HttpClient api, FakeInstallation installation)
    {
        var (id, state) = await InstallThroughBrowserAsync(api, installation);
        var response = await api.PostAsJsonAsync("/api/v1/github/installations",
            new { installation_id = id, account_login = installation.AccountLogin, account_type = installation.AccountType, state });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public async Task<string> CreateEntryAsync(HttpClient api, string name)
    {
        var response = await api.PostAsJsonAsync("/api/v1/registry", new { name, description = "test" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    public async Task<JsonObject> ConnectAsync(HttpClient api, string entryId, FakeInstallation installation, FakeRepo repo, object? extra = null)
    {
        var body = new JsonObject { ["entry_id"] = entryId, ["installation_id"] = installation.Id, ["repo_full_name"] = repo.FullName };
        if (extra is not null)
            foreach (var (k, v) in JsonSerializer.SerializeToNode(extra, Json)!.AsObject()) body[k] = v?.DeepClone();
        var response = await api.PostAsJsonAsync("/api/v1/github/connections", body);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <summary>Sends a signed webhook the way GitHub does.</summary>
    public async Task<HttpResponseMessage> SendWebhookAsync(string eventName, string payload, string? deliveryId = null)
    {
        using var request = GitHub.CreateWebhookRequest(new Uri(Api.BaseAddress!, "/api/v1/github/webhook"), eventName, payload, deliveryId);
        return await Api.SendAsync(request);
    }

    /// <summary>
    /// Waits (on the app's own attempt notifications, not by polling on a timer) until the connection has
    /// <paramref name="count"/> finished attempts, and returns them newest first.
    /// </summary>
    public async Task<List<PublishAttempt>> WaitForFinishedAttemptsAsync(Guid connectionId, int count, TimeSpan? timeout = null)
    {
        var notifier = App.Services.GetRequiredService<AttemptNotifier>();
        var changed = new SemaphoreSlim(0);
        void OnChanged(AttemptChanged e) { if (e.ConnectionId == connectionId) changed.Release(); }
        notifier.Changed += OnChanged;
        try
        {
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
        finally
        {
            notifier.Changed -= OnChanged;
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
        if (payload["head_commit"] is JsonObject head) head["id"] = after;
        return payload.ToJsonString();
    }
}
