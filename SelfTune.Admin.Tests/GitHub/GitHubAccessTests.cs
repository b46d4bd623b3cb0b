using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>Who may use /api/v1/github (SPEC sections 2 and 3): key, permission, plan, tenancy, and a configured App.</summary>
public sealed class GitHubAccessTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task A_free_plan_org_gets_402_plan_required()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Free);
        using var api = h.App.CreateClient(key);
        foreach (var path in new[] { "/api/v1/github/settings", "/api/v1/github/installations", "/api/v1/github/connections" })
        {
            var problem = await GitHubHarness.AssertProblemAsync(await api.GetAsync(path), HttpStatusCode.PaymentRequired, "plan_required");
            Assert.Contains("pro", problem["detail"]!.GetValue<string>());
        }
        var bind = await api.PostAsJsonAsync("/api/v1/github/installations", new { installation_id = 1, account_login = "x", account_type = "User" });
        await GitHubHarness.AssertProblemAsync(bind, HttpStatusCode.PaymentRequired, "plan_required");
    }

    [Fact]
    public async Task A_key_without_registry_push_gets_403()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro, SelfTuneClaims.RegistryRead);
        using var api = h.App.CreateClient(key);
        var problem = await GitHubHarness.AssertProblemAsync(await api.GetAsync("/api/v1/github/connections"), HttpStatusCode.Forbidden, "forbidden");
        Assert.Contains("registry:push", problem["detail"]!.GetValue<string>());
        await GitHubHarness.AssertProblemAsync(await api.PostAsync("/api/v1/github/reconcile", null), HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task No_key_or_a_bad_key_gets_401_with_a_Bearer_challenge()
    {
        using var anonymous = h.App.CreateClient((string?)null);
        var response = await anonymous.GetAsync("/api/v1/github/installations");
        await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Contains(response.Headers.WwwAuthenticate, v => v.Scheme == "Bearer");

        using var bad = h.App.CreateClient(ApiKeyFormat.Generate());
        await GitHubHarness.AssertProblemAsync(await bad.GetAsync("/api/v1/github/connections"), HttpStatusCode.Unauthorized, "unauthorized");

        var acme = await h.App.AcmeOrgIdAsync();
        using var revoked = h.App.CreateClient(await h.App.CreateKeyAsync(acme, SelfTuneClaims.AllPermissions, revoked: true));
        await GitHubHarness.AssertProblemAsync(await revoked.GetAsync("/api/v1/github/connections"), HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Another_orgs_connection_is_404_on_every_endpoint()
    {
        var a = await h.ConnectRepoAsync(h.Api, "tenancy-a");
        var (_, keyB) = await h.App.CreateOrgAsync(Plan.Pro);
        using var b = h.App.CreateClient(keyB);
        var id = a.ConnectionId;

        await GitHubHarness.AssertProblemAsync(await b.GetAsync($"/api/v1/github/connections/{id}"), HttpStatusCode.NotFound, "not_found");
        await GitHubHarness.AssertProblemAsync(await b.PatchAsJsonAsync($"/api/v1/github/connections/{id}", new { auto_publish = false }), HttpStatusCode.NotFound, "not_found");
        await GitHubHarness.AssertProblemAsync(await b.DeleteAsync($"/api/v1/github/connections/{id}"), HttpStatusCode.NotFound, "not_found");
        await GitHubHarness.AssertProblemAsync(await b.PostAsync($"/api/v1/github/connections/{id}/sync", null), HttpStatusCode.NotFound, "not_found");
        await GitHubHarness.AssertProblemAsync(await b.PostAsJsonAsync($"/api/v1/github/connections/{id}/preview", new { @ref = "main" }), HttpStatusCode.NotFound, "not_found");
        await GitHubHarness.AssertProblemAsync(await b.GetAsync($"/api/v1/github/connections/{id}/attempts"), HttpStatusCode.NotFound, "not_found");
        var listed = (await b.GetFromJsonAsync<JsonObject>("/api/v1/github/connections"))!["connections"]!.AsArray();
        Assert.DoesNotContain(listed, c => c!["id"]!.GetValue<string>() == id.ToString());
        // B's repos call for A's installation (not bound to B) is 404 too.
        await GitHubHarness.AssertProblemAsync(await b.GetAsync($"/api/v1/github/repos?installation_id={a.Installation.Id}"), HttpStatusCode.NotFound, "not_found");

        // Nothing B did changed A's connection or ran a sync.
        var still = await GitHubHarness.GetConnectionAsync(h.Api, id);
        Assert.True(still["auto_publish"]!.GetValue<bool>());
        Assert.Empty(await h.AttemptsAsync(id));
    }

    [Fact]
    public async Task Without_App_settings_the_GitHub_endpoints_answer_503_naming_the_missing_settings()
    {
        await using var app = new AdminAppFactory();
        using var api = app.CreateClient(app.DevelopmentKey);
        var requests = new List<Func<Task<HttpResponseMessage>>>
        {
            () => api.GetAsync("/api/v1/github/repos?installation_id=1"),
            () => api.PostAsJsonAsync("/api/v1/github/installations", new { installation_id = 1, account_login = "x", account_type = "User", state = "s" }),
            () => api.PostAsync($"/api/v1/github/connections/{Guid.NewGuid()}/sync", null),
            () => api.GetAsync("/api/v1/github/install-url"),
        };
        foreach (var send in requests)
        {
            var problem = await GitHubHarness.AssertProblemAsync(await send(), HttpStatusCode.ServiceUnavailable, "github_not_configured");
            var detail = problem["detail"]!.GetValue<string>();
            foreach (var setting in new[] { "GitHub:AppId", "GitHub:AppSlug", "GitHub:PrivateKey", "GitHub:WebhookSecret" })
                Assert.Contains(setting, detail);
        }

        // The webhook receiver cannot check a signature without the secret: 503 too, and nothing is stored.
        var webhook = await api.SendAsync(h.GitHub.CreateWebhookRequest(new Uri(api.BaseAddress!, "/api/v1/github/webhook"), "ping", "{}"));
        var whProblem = await GitHubHarness.AssertProblemAsync(webhook, HttpStatusCode.ServiceUnavailable, "github_not_configured");
        Assert.Contains("GitHub:WebhookSecret", whProblem["detail"]!.GetValue<string>());
        Assert.Equal(0, await app.WithDbAsync(db => Task.FromResult(db.Deliveries.Count())));

        // Reading settings and connections does not need GitHub.
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/github/connections")).StatusCode);
    }
}
