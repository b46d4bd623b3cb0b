using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>SPEC section 4: binding needs a valid, unused state issued to this org, and GitHub's word on the account.</summary>
public sealed class InstallationBindingTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    static object Bind(long installationId, string login, string type = "Organization", string? state = null) =>
        new { installation_id = installationId, account_login = login, account_type = type, state };

    [Fact]
    public async Task Binding_without_a_state_is_refused_as_unverified()
    {
        var installation = h.GitHub.AddInstallation("nostate-org");
        var response = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "nostate-org"));
        var problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.Contains("state", problem["detail"]!.GetValue<string>());
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
    }

    [Fact]
    public async Task A_state_issued_to_another_org_is_refused()
    {
        var installation = h.GitHub.AddInstallation("stolen-state-org");
        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var other = h.App.CreateClient(otherKey);
        var othersState = await GitHubHarness.IssueStateAsync(other);
        h.GitHub.TouchInstallation(installation); // the other org's admin installs it on GitHub with their link

        var response = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "stolen-state-org", state: othersState));
        var problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.Contains("another SelfTune org", problem["detail"]!.GetValue<string>());

        // The state was not used up by the refused attempt: its own org can still bind with it.
        var own = await other.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "stolen-state-org", state: othersState));
        Assert.Equal(HttpStatusCode.Created, own.StatusCode);
    }

    [Fact]
    public async Task Another_orgs_fresh_state_cannot_bind_an_installation_that_was_not_installed_through_its_link()
    {
        // Org A installed the App (an hour ago) and bound it; its repositories are private.
        var installation = h.GitHub.AddInstallation("victim-org");
        var repo = h.GitHub.AddRepo(installation, "victim-org", "secret-skills", visibility: "private");
        await h.BindAsync(h.Api, installation);
        h.GitHub.TouchInstallation(installation, at: DateTimeOffset.UtcNow.AddHours(-1));

        // An admin of org B takes B's own state (valid, unused, issued to B) and presents A's installation id.
        var (_, attackerKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var attacker = h.App.CreateClient(attackerKey);
        var state = await GitHubHarness.IssueStateAsync(attacker);
        var response = await attacker.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "victim-org", state: state));
        var problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.Equal($"Installation {installation.Id} was not installed or configured through this installation link. " +
                     "Start the installation from SelfTune and finish it on GitHub.", problem["detail"]!.GetValue<string>());

        // A wrong guess of the account is refused the same way: no 422 that would name the installation's account.
        var blind = await attacker.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "a-guess", "User", state));
        problem = await GitHubHarness.AssertProblemAsync(blind, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.DoesNotContain("victim-org", problem["detail"]!.GetValue<string>());

        Assert.Empty(await ListInstallationsAsync(attacker));
        await GitHubHarness.AssertProblemAsync(await attacker.GetAsync($"/api/v1/github/repos?installation_id={installation.Id}"), HttpStatusCode.NotFound, "not_found");
        Assert.Contains(repo.FullName, await (await h.Api.GetAsync($"/api/v1/github/repos?installation_id={installation.Id}")).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Another_org_binds_the_same_installation_after_going_through_its_own_install_link()
    {
        var installation = h.GitHub.AddInstallation("shared-org");
        h.GitHub.AddRepo(installation, "shared-org", "shared-skills", visibility: "private");
        await h.BindAsync(h.Api, installation);
        h.GitHub.TouchInstallation(installation, at: DateTimeOffset.UtcNow.AddHours(-1)); // org A bound it an hour ago

        // An admin of the GitHub account also administers org B: they start from B's install link and configure the
        // existing installation on GitHub, which sends them back with B's state.
        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var other = h.App.CreateClient(otherKey);
        var (id, state) = await h.InstallThroughBrowserAsync(other, installation);
        var response = await other.PostAsJsonAsync("/api/v1/github/installations", Bind(id, "shared-org", state: state));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);

        Assert.Single(await ListInstallationsAsync(other), i => i["installation_id"]!.GetValue<long>() == installation.Id);
        Assert.Single(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
        var repos = await other.GetAsync($"/api/v1/github/repos?installation_id={installation.Id}");
        Assert.Equal(HttpStatusCode.OK, repos.StatusCode);
        Assert.Contains("shared-org/shared-skills", await repos.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_used_state_cannot_bind_again()
    {
        var first = h.GitHub.AddInstallation("reuse-one");
        var second = h.GitHub.AddInstallation("reuse-two");
        var (_, state) = await h.InstallThroughBrowserAsync(h.Api, first);
        var ok = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(first.Id, "reuse-one", state: state));
        Assert.Equal(HttpStatusCode.Created, ok.StatusCode);

        var again = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(second.Id, "reuse-two", state: state));
        var problem = await GitHubHarness.AssertProblemAsync(again, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.Contains("already been used", problem["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_tampered_state_is_refused()
    {
        var installation = h.GitHub.AddInstallation("tampered-org");
        var state = await GitHubHarness.IssueStateAsync(h.Api);
        var tampered = state[..^4] + (state.EndsWith("AAAA") ? "BBBB" : "AAAA");
        var response = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "tampered-org", state: tampered));
        await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Forbidden, "installation_unverified");
    }

    [Fact]
    public async Task Account_login_or_type_that_disagree_with_GitHub_are_422_and_keep_the_state()
    {
        var installation = h.GitHub.AddInstallation("real-owner");
        var state = await GitHubHarness.IssueStateAsync(h.Api);
        h.GitHub.TouchInstallation(installation); // installed on GitHub through this link

        var wrongLogin = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "someone-else", state: state));
        var problem = await GitHubHarness.AssertProblemAsync(wrongLogin, HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Contains("real-owner", problem["detail"]!.GetValue<string>());
        Assert.NotNull(problem["errors"]!["account_login"]);

        var wrongType = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "real-owner", "User", state));
        problem = await GitHubHarness.AssertProblemAsync(wrongType, HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.NotNull(problem["errors"]!["account_type"]);
        Assert.Contains("Organization", problem["detail"]!.GetValue<string>());

        // Refusals do not consume the state; the correct values bind with it.
        var right = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "real-owner", state: state));
        Assert.Equal(HttpStatusCode.Created, right.StatusCode);
    }

    [Fact]
    public async Task An_installation_GitHub_does_not_know_is_404()
    {
        var state = await GitHubHarness.IssueStateAsync(h.Api);
        var response = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(98_765_432, "ghost", state: state));
        var problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.NotFound, "not_found");
        Assert.Contains("98765432", problem["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Binding_twice_answers_200_with_the_same_row_and_stores_GitHubs_values()
    {
        var installation = h.GitHub.AddInstallation("twice-org", checksWrite: false);
        var first = await h.BindAsync(h.Api, installation);
        Assert.Equal("twice-org", first["account_login"]!.GetValue<string>());
        Assert.False(first["suspended"]!.GetValue<bool>());
        Assert.Equal("write", first["permissions"]!["statuses"]!.GetValue<string>());
        Assert.Null(first["permissions"]!["checks"]);

        var state = await GitHubHarness.IssueStateAsync(h.Api);
        var second = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "twice-org", state: state));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var body = (await second.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(first["id"]!.GetValue<string>(), body["id"]!.GetValue<string>());
        Assert.Single(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
    }

    [Fact]
    public async Task TrustApiKeyBinding_allows_binding_without_a_state_but_still_checks_GitHub()
    {
        await using var app = new AdminAppFactory();
        foreach (var (k, v) in GitHubHarness.Settings(h.GitHub)) app.Settings[k] = v;
        app.Settings["GitHub:TrustApiKeyBinding"] = "true";
        using var api = app.CreateClient(app.DevelopmentKey);
        var installation = h.GitHub.AddInstallation("self-hosted");

        var response = await api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "self-hosted"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(installation.Id, body["installation_id"]!.GetValue<long>());

        var mismatch = await api.PostAsJsonAsync("/api/v1/github/installations", Bind(h.GitHub.AddInstallation("self-hosted-2").Id, "nope"));
        await GitHubHarness.AssertProblemAsync(mismatch, HttpStatusCode.UnprocessableEntity, "validation_failed");
        var unknown = await api.PostAsJsonAsync("/api/v1/github/installations", Bind(97_000_001, "ghost"));
        await GitHubHarness.AssertProblemAsync(unknown, HttpStatusCode.NotFound, "not_found");
    }

    static async Task<List<JsonObject>> ListInstallationsAsync(HttpClient api) =>
        (await api.GetFromJsonAsync<JsonObject>("/api/v1/github/installations"))!["installations"]!.AsArray().Select(i => i!.AsObject()).ToList();
}
