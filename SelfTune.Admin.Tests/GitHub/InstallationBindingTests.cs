using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Web;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Apis;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// SPEC section 4: an installation binds only when GitHub's user authorization proved, for a state this org issued, that
/// the person's GitHub account can access it; every path (the callback, the API with any state, replays, another org's
/// state) refuses anyone else, and refusals never name the installation's account.
/// </summary>
public sealed class InstallationBindingTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    static object Bind(long installationId, string login, string type = "Organization", string? state = null) =>
        new { installation_id = installationId, account_login = login, account_type = type, state };

    /// <summary>
    /// "Connect an installation you already have": a state from <paramref name="api"/>'s install link, GitHub's authorize
    /// page with <paramref name="githubUser"/> signed in, and the callback in a browser of that org. Returns the state.
    /// </summary>
    async Task<string> AuthorizeAsync(HttpClient api, string githubUser)
    {
        var state = await GitHubHarness.IssueStateAsync(api);
        h.GitHub.BrowserUser = githubUser;
        using var github = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var authorized = await github.GetAsync(new Uri(h.GitHub.BaseUrl,
            $"login/oauth/authorize?client_id={h.GitHub.ClientId}&state={Uri.EscapeDataString(state)}&redirect_uri={Uri.EscapeDataString("http://localhost/settings/github/callback")}"));
        Assert.Equal(HttpStatusCode.Found, authorized.StatusCode);
        var outcome = await GitHubHarness.CallbackAsync(await h.BrowserAsync(api), authorized.Headers.Location!);
        Assert.Equal($"/settings/github?connect={Uri.EscapeDataString(state)}", outcome.OriginalString);
        return state;
    }

    /// <summary>The refusal the callback sent the browser on with (what the page shows), or null when it bound.</summary>
    ProblemException? Refusal(Uri outcome) => GitHubCallbackApi.ReadRefusal(h.App.Services.GetRequiredService<IDataProtectionProvider>(),
        HttpUtility.ParseQueryString(outcome.OriginalString.Split('?', 2)[1])["bind_error"]);

    static Uri WithInstallationId(Uri callback, long id)
    {
        var query = HttpUtility.ParseQueryString(callback.Query);
        query["installation_id"] = id.ToString();
        return new Uri(callback.GetLeftPart(UriPartial.Path) + "?" + query);
    }

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
    public async Task The_install_callback_binds_what_the_installing_persons_GitHub_account_can_access()
    {
        var installation = h.GitHub.AddInstallation("callback-org", checksWrite: false);
        var install = await h.InstallThroughBrowserAsync(h.Api, installation);
        var outcome = await GitHubHarness.CallbackAsync(await h.BrowserAsync(h.Api), install.Callback);

        Assert.Equal($"/settings/github?bound={installation.Id}", outcome.OriginalString);
        var bound = Assert.Single(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
        Assert.Equal("callback-org", bound["account_login"]!.GetValue<string>());
        Assert.Null(bound["permissions"]!["checks"]);
    }

    [Fact]
    public async Task A_person_whose_GitHub_account_cannot_reach_the_installation_cannot_bind_it_through_the_callback()
    {
        // Org A's installation; Mallory (no access to it) installs her own through acme's link and edits the id on the way back.
        var victim = h.GitHub.AddInstallation("callback-victim");
        var own = h.GitHub.AddInstallation("mallory", "User");
        var install = await h.InstallThroughBrowserAsync(h.Api, own, githubUser: "mallory");
        var outcome = await GitHubHarness.CallbackAsync(await h.BrowserAsync(h.Api), WithInstallationId(install.Callback, victim.Id));

        var refusal = Refusal(outcome);
        Assert.NotNull(refusal);
        Assert.Equal((403, "installation_unverified"), (refusal.Status, refusal.Code));
        Assert.Contains($"did not list installation {victim.Id}", refusal.Message);
        Assert.DoesNotContain("callback-victim", refusal.Message);
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == victim.Id);
    }

    [Fact]
    public async Task The_spoofing_sequence_from_the_issue_fails_on_every_path()
    {
        // Org A installed the App and bound it; its repositories are private.
        var installation = h.GitHub.AddInstallation("victim-org");
        var repo = h.GitHub.AddRepo(installation, "victim-org", "secret-skills", visibility: "private");
        await h.BindAsync(h.Api, installation);

        // An admin of org B takes a state from B's install link and waits until A installs or reconfigures the App.
        var (_, attackerKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var attacker = h.App.CreateClient(attackerKey);
        var state = await GitHubHarness.IssueStateAsync(attacker);
        await h.InstallThroughBrowserAsync(h.Api, installation); // A configures it on GitHub (through A's own link)

        // B binds A's installation id with B's state: refused, and the answer does not name A's account.
        var response = await attacker.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "victim-org", state: state));
        var problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.DoesNotContain("victim-org", problem["detail"]!.GetValue<string>());

        // A wrong guess of the account is refused the same way: no 422 that would name the installation's account.
        var blind = await attacker.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "a-guess", "User", state));
        problem = await GitHubHarness.AssertProblemAsync(blind, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.DoesNotContain("victim-org", problem["detail"]!.GetValue<string>());

        // B's person authorizes the App with their own GitHub account, which cannot reach A's installation: still refused.
        var mallorys = h.GitHub.AddInstallation("mallory-b", "User");
        var proved = await AuthorizeAsync(attacker, "mallory-b");
        response = await attacker.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "victim-org", state: proved));
        problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.DoesNotContain("victim-org", problem["detail"]!.GetValue<string>());

        Assert.Empty(await ListInstallationsAsync(attacker));
        await GitHubHarness.AssertProblemAsync(await attacker.GetAsync($"/api/v1/github/repos?installation_id={installation.Id}"), HttpStatusCode.NotFound, "not_found");
        Assert.Contains(repo.FullName, await (await h.Api.GetAsync($"/api/v1/github/repos?installation_id={installation.Id}")).Content.ReadAsStringAsync());

        // What the state did prove still binds: only Mallory's own installation.
        var own = await attacker.PostAsJsonAsync("/api/v1/github/installations", Bind(mallorys.Id, "mallory-b", "User", proved));
        Assert.Equal(HttpStatusCode.Created, own.StatusCode);
        Assert.Equal([mallorys.Id], (await ListInstallationsAsync(attacker)).Select(i => i["installation_id"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Failed_tries_count_against_the_state_and_the_fifth_kills_it()
    {
        var mine = h.GitHub.AddInstallation("tries-own", "User");
        var state = await AuthorizeAsync(h.Api, "tries-own");
        for (var i = 0; i < InstallationBinder.MaxFailedAttempts; i++)
        {
            var guess = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(90_000_000 + i, "guess", state: state));
            await GitHubHarness.AssertProblemAsync(guess, HttpStatusCode.Forbidden, "installation_unverified");
        }

        // Even the installation the state proved no longer binds with it.
        var proved = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(mine.Id, "tries-own", "User", state));
        var problem = await GitHubHarness.AssertProblemAsync(proved, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.Contains("refused 5 times", problem["detail"]!.GetValue<string>());
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == mine.Id);
    }

    [Fact]
    public async Task A_state_issued_to_another_org_is_refused()
    {
        var installation = h.GitHub.AddInstallation("stolen-state-org");
        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var other = h.App.CreateClient(otherKey);
        h.GitHub.AddUser("stolen-state-admin", "stolen-state-org");
        var othersState = await AuthorizeAsync(other, "stolen-state-admin"); // GitHub listed the installation for the other org's person

        var response = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "stolen-state-org", state: othersState));
        var problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.Contains("another SelfTune org", problem["detail"]!.GetValue<string>());

        // The other org's callback in acme's browser is refused too.
        var acmeBrowser = await h.BrowserAsync(h.Api);
        var install = await h.InstallThroughBrowserAsync(other, installation);
        var refusal = Refusal(await GitHubHarness.CallbackAsync(acmeBrowser, install.Callback));
        Assert.Contains("another SelfTune org", refusal!.Message);
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);

        // The state was not used up by the refused attempt: its own org can still bind with it.
        var own = await other.PostAsJsonAsync("/api/v1/github/installations", Bind(installation.Id, "stolen-state-org", state: othersState));
        Assert.Equal(HttpStatusCode.Created, own.StatusCode);
    }

    [Fact]
    public async Task A_state_started_by_another_member_is_refused_at_the_callback()
    {
        var installation = h.GitHub.AddInstallation("other-member-org");
        var orgId = await h.App.AcmeOrgIdAsync();
        var (_, starterId) = await SignedInBrowser.CreateAsync(h.App, orgId);
        string state;
        await using (var scope = h.App.Services.CreateAsyncScope())
            state = await scope.ServiceProvider.GetRequiredService<InstallationBinder>().IssueStateAsync(new Actor(orgId, starterId, MemberRole.Admin), default);
        h.GitHub.NextInstallForBrowser = installation;
        h.GitHub.BrowserUser = GitHubHarness.InstallerOf(installation);
        using var github = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var redirect = await github.GetAsync(new Uri(h.GitHub.BaseUrl, $"apps/{h.GitHub.AppSlug}/installations/new?state={Uri.EscapeDataString(state)}"));

        var refusal = Refusal(await GitHubHarness.CallbackAsync(await h.BrowserAsync(h.Api), redirect.Headers.Location!));
        Assert.Contains("started by someone else", refusal!.Message);
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
    }

    [Fact]
    public async Task The_callback_needs_a_signed_in_browser()
    {
        var installation = h.GitHub.AddInstallation("anonymous-callback-org");
        var install = await h.InstallThroughBrowserAsync(h.Api, installation);
        using var anonymous = h.App.CreateClient((string?)null);
        using var response = await anonymous.GetAsync(install.Callback.PathAndQuery);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Contains("/account/signin", response.Headers.Location!.OriginalString);
        // An API key is no browser either.
        using var key = await h.Api.GetAsync(install.Callback.PathAndQuery);
        Assert.NotEqual(HttpStatusCode.OK, key.StatusCode);
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
    }

    [Fact]
    public async Task Another_org_binds_the_same_installation_when_its_persons_GitHub_account_can_access_it()
    {
        var installation = h.GitHub.AddInstallation("shared-org");
        h.GitHub.AddRepo(installation, "shared-org", "shared-skills", visibility: "private");
        await h.BindAsync(h.Api, installation);

        // An admin of the GitHub organization also administers org B: they start from B's install link and configure the
        // existing installation on GitHub, which sends them to the callback with B's state.
        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var other = h.App.CreateClient(otherKey);
        var install = await h.InstallThroughBrowserAsync(other, installation);
        var outcome = await GitHubHarness.CallbackAsync(await h.BrowserAsync(other), install.Callback);
        Assert.Equal($"/settings/github?bound={installation.Id}", outcome.OriginalString);

        Assert.Single(await ListInstallationsAsync(other), i => i["installation_id"]!.GetValue<long>() == installation.Id);
        Assert.Single(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
        var repos = await other.GetAsync($"/api/v1/github/repos?installation_id={installation.Id}");
        Assert.Equal(HttpStatusCode.OK, repos.StatusCode);
        Assert.Contains("shared-org/shared-skills", await repos.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Connect_an_installation_you_already_have_binds_only_what_GitHub_lists_for_the_person()
    {
        var reachable = h.GitHub.AddInstallation("connect-team");
        var unreachable = h.GitHub.AddInstallation("connect-elsewhere");
        h.GitHub.AddUser("connect-person", "connect-team");
        var state = await AuthorizeAsync(h.Api, "connect-person");

        var refused = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(unreachable.Id, "connect-elsewhere", state: state));
        await GitHubHarness.AssertProblemAsync(refused, HttpStatusCode.Forbidden, "installation_unverified");
        var bound = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(reachable.Id, "connect-team", state: state));
        Assert.Equal(HttpStatusCode.Created, bound.StatusCode);
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == unreachable.Id);
    }

    [Fact]
    public async Task A_used_state_cannot_bind_again()
    {
        var first = h.GitHub.AddInstallation("reuse-one");
        var second = h.GitHub.AddInstallation("reuse-two");
        h.GitHub.AddUser(GitHubHarness.InstallerOf(first), "reuse-two"); // the person can reach both
        var install = await h.InstallThroughBrowserAsync(h.Api, first);
        var browser = await h.BrowserAsync(h.Api);
        Assert.Equal($"/settings/github?bound={first.Id}", (await GitHubHarness.CallbackAsync(browser, install.Callback)).OriginalString);

        var again = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(second.Id, "reuse-two", state: install.State));
        var problem = await GitHubHarness.AssertProblemAsync(again, HttpStatusCode.Forbidden, "installation_unverified");
        Assert.Contains("already been used", problem["detail"]!.GetValue<string>());

        // Replaying GitHub's redirect (same code and state) for the second installation is refused as well.
        var replay = Refusal(await GitHubHarness.CallbackAsync(browser, WithInstallationId(install.Callback, second.Id)));
        Assert.Contains("already been used", replay!.Message);
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == second.Id);
    }

    [Fact]
    public async Task A_code_works_once()
    {
        var installation = h.GitHub.AddInstallation("code-once");
        var install = await h.InstallThroughBrowserAsync(h.Api, installation);
        var browser = await h.BrowserAsync(h.Api);
        await using (var scope = h.App.Services.CreateAsyncScope())
        {
            // Someone who saw the code uses it first (with a state of their own); the callback's exchange then fails.
            var binder = scope.ServiceProvider.GetRequiredService<InstallationBinder>();
            var actor = new Actor(await h.App.AcmeOrgIdAsync(), Guid.NewGuid(), MemberRole.Admin);
            await binder.ProveAsync(actor, await binder.IssueStateAsync(actor, default), install.Code, default);
        }
        var refusal = Refusal(await GitHubHarness.CallbackAsync(browser, install.Callback));
        Assert.Contains("did not accept the authorization", refusal!.Message);
        Assert.DoesNotContain(await ListInstallationsAsync(h.Api), i => i["installation_id"]!.GetValue<long>() == installation.Id);
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
    public async Task Account_login_or_type_that_disagree_with_GitHub_are_422_once_proved_and_keep_the_state()
    {
        var installation = h.GitHub.AddInstallation("real-owner");
        h.GitHub.AddUser("real-owner-admin", "real-owner");
        var state = await AuthorizeAsync(h.Api, "real-owner-admin"); // GitHub listed it for this person: naming its account tells nothing new

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
    public async Task An_installation_GitHub_no_longer_knows_is_404()
    {
        var installation = h.GitHub.AddInstallation("ghost", "User", id: 98_765_432);
        var state = await AuthorizeAsync(h.Api, "ghost");
        h.GitHub.RemoveInstallation(installation); // uninstalled between the authorization and the bind
        var response = await h.Api.PostAsJsonAsync("/api/v1/github/installations", Bind(98_765_432, "ghost", "User", state));
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
