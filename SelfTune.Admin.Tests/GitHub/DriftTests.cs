using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Components.Pages.Connections;
using SelfTune.Admin.Components.Pages.Overview;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.Components;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 13, drift: a release tag that moved after its version was published, or a repository the installation no longer
/// reaches, shows on the connection (API, page, overview) with what to do, and the released version stays as published;
/// Reconcile of one connection publishes what is missing and clears drift once fixed. And the last delivery and the
/// quiet-connections warning of GitHub setup and the overview.
/// </summary>
public sealed class DriftTests(GitHubHarness h) : PageTestContext(h.App), IClassFixture<GitHubHarness>
{

    static async Task<JsonObject> ReconcileAsync(HttpClient api, Guid connectionId)
    {
        using var response = await api.PostAsync($"/api/v1/github/connections/{connectionId}/reconcile", null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>A field the answer must carry, null or not.</summary>
    static JsonNode? Field(JsonObject body, string name)
    {
        Assert.True(body.ContainsKey(name), $"No {name} in {body.ToJsonString()}");
        return body[name];
    }

    static List<string> Published(JsonObject reconciled) => reconciled["attempts"]!.AsArray()
        .Where(a => a!["status"]!.GetValue<string>() == "published").Select(a => a!["version"]!.GetValue<string>()).ToList();

    Task<string?> CommitOfVersionAsync(Guid connectionId, string version) => App.WithDbAsync(db => db.Attempts
        .Where(a => a.ConnectionId == connectionId && a.Version == version && a.Status == AttemptStatus.Published)
        .Select(a => a.CommitSha).SingleAsync());

    [Fact]
    public async Task A_moved_release_tag_shows_as_drift_on_the_API_the_page_and_the_overview_and_the_released_version_is_untouched()
    {
        var c = await h.ConnectedOrgAsync("drifting");
        var released = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("drifting", extra: "first release"));
        h.GitHub.PushTag(c.Repo, "v1.2.0", released);

        var first = await ReconcileAsync(c.Api, c.ConnectionId);
        Assert.Contains("1.2.0", Published(first));
        Assert.Null(Field(first, "drift"));
        Assert.Contains("in step", first["message"]!.GetValue<string>());
        var before = (await GitHubHarness.VersionsAsync(c.Api, c.EntryId.ToString())).Single(v => v["version"]!.GetValue<string>() == "1.2.0");

        // The tag is force-moved to a new commit with other content; GitHub sends no webhook the app acts on.
        var moved = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("drifting", extra: "changed after the release"));
        h.GitHub.PushTag(c.Repo, "v1.2.0", moved);
        var second = await ReconcileAsync(c.Api, c.ConnectionId);

        var expected = $"Tag v1.2.0 now points at {moved[..7]} but version 1.2.0 was published from {released[..7]}.";
        Assert.StartsWith(expected, second["drift"]!.GetValue<string>());
        Assert.Contains("publish the change under a new tag", second["drift"]!.GetValue<string>());
        Assert.DoesNotContain("1.2.0", Published(second));
        Assert.Contains("Out of step: " + expected, second["message"]!.GetValue<string>());
        var connection = await GitHubHarness.GetConnectionAsync(c.Api, c.ConnectionId);
        Assert.StartsWith(expected, connection["drift"]!.GetValue<string>());
        Assert.NotNull(Field(connection, "drift_detected_at"));
        // The list carries it too, with every field it had.
        var listed = (await c.Api.GetJsonAsync("/api/v1/github/connections"))["connections"]!.AsArray().Single()!.AsObject();
        Assert.StartsWith(expected, listed["drift"]!.GetValue<string>());
        Assert.Equal(c.Repo.FullName, listed["repo_full_name"]!.GetValue<string>());

        // The released version is exactly as it was: same content, same tag, built from the same commit.
        var after = (await GitHubHarness.VersionsAsync(c.Api, c.EntryId.ToString())).Single(v => v["version"]!.GetValue<string>() == "1.2.0");
        Assert.Equal(before["content_hash"]!.GetValue<string>(), after["content_hash"]!.GetValue<string>());
        Assert.Equal("v1.2.0", after["source_ref"]!.GetValue<string>());
        Assert.Equal(released, await CommitOfVersionAsync(c.ConnectionId, "1.2.0"));

        // The connection page says it with what to do.
        SignInAs(c.OrgId, MemberRole.Viewer);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.Contains(expected, page.Find("[data-testid=drift]").TextContent));
        Assert.Contains("Versions are immutable", page.Find("[data-testid=drift]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=reconcile]")); // a viewer only reads

        // So does the overview: the count, the connection linked, and its row flagged.
        await DisposeComponentsAsync(); // one page at a time (MudBlazor's providers)
        var overview = RenderPage<Overview>();
        overview.WaitForAssertion(() => Assert.Contains("1 connection is out of step with GitHub", overview.Find("[data-testid=drift-summary]").TextContent));
        var drifted = overview.Find("[data-testid=drifted-connection]");
        Assert.Contains(expected, drifted.TextContent);
        Assert.Equal($"/connections/{c.ConnectionId}", drifted.QuerySelector("a")!.GetAttribute("href"));
        Assert.Single(overview.FindAll("[data-testid=drift-chip]"));
    }

    [Fact]
    public async Task Reconcile_of_one_connection_publishes_what_is_missing_and_clears_drift_once_the_change_is_released_under_a_new_tag()
    {
        var c = await h.ConnectedOrgAsync("mending");
        var released = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("mending", extra: "1.0.0"));
        h.GitHub.PushTag(c.Repo, "v1.0.0", released);
        h.GitHub.PushTag(c.Repo, "v0.9.0", c.HeadSha);

        // Missed by webhooks: the head and both tags are published by one reconcile, with its audit entry.
        var first = await ReconcileAsync(c.Api, c.ConnectionId);
        Assert.Equal(["0.0.0-github." + released[..7], "0.9.0", "1.0.0"], Published(first).Order(StringComparer.Ordinal).ToList());
        Assert.StartsWith("Published ", first["message"]!.GetValue<string>());
        Assert.True(await App.WithDbAsync(db => db.AuditEntries.AnyAsync(e => e.OrgId == c.OrgId && e.Action == "connection.reconcile"
            && e.TargetId == c.ConnectionId.ToString() && e.TargetName == c.Repo.FullName)));
        var again = await ReconcileAsync(c.Api, c.ConnectionId);
        Assert.Empty(again["attempts"]!.AsArray());
        Assert.Contains("Nothing was missing", again["message"]!.GetValue<string>());

        var fix = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("mending", extra: "the fix"));
        h.GitHub.PushTag(c.Repo, "v1.0.0", fix);
        Assert.NotNull(Field(await ReconcileAsync(c.Api, c.ConnectionId), "drift"));

        // The fix the drift asks for: the change under a new tag. Reconcile on the page publishes it and the drift goes.
        h.GitHub.PushTag(c.Repo, "v1.0.1", fix);
        SignInAs(c.OrgId, MemberRole.Member);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.Contains("Tag v1.0.0 now points at", page.Find("[data-testid=drift]").TextContent));
        await ClickAsync(page, "reconcile");
        page.WaitForAssertion(() => Assert.Contains("Published 1.0.1.", page.Find("[data-testid=reconcile-result]").TextContent), PageSeed.Slow);
        Assert.Contains($"{c.Repo.FullName} is in step with the registry", page.Find("[data-testid=reconcile-result]").TextContent);
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=drift]")));

        var connection = await GitHubHarness.GetConnectionAsync(c.Api, c.ConnectionId);
        Assert.Null(Field(connection, "drift"));
        Assert.Null(Field(connection, "drift_detected_at"));
        Assert.Equal(released, await CommitOfVersionAsync(c.ConnectionId, "1.0.0"));
        Assert.Equal(fix, await CommitOfVersionAsync(c.ConnectionId, "1.0.1"));
    }

    [Fact]
    public async Task A_repository_the_installation_no_longer_reaches_shows_as_drift_until_it_is_added_back()
    {
        var c = await h.ConnectedOrgAsync("unreachable");
        // Removed from the App's repository access while the app missed the webhook: the sweep finds out.
        h.GitHub.RemoveRepoFromInstallation(c.Installation, c.Repo);
        Assert.Equal(HttpStatusCode.Accepted, (await c.Api.PostAsync("/api/v1/github/reconcile", null)).StatusCode);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        var drift = (await GitHubHarness.GetConnectionAsync(c.Api, c.ConnectionId))["drift"]!.GetValue<string>();
        Assert.StartsWith($"SelfTune can no longer read {c.Repo.FullName}: add it back to the App's repository access on GitHub", drift);
        Assert.Contains($"/settings/installations/{c.Installation.Id}", drift); // the installation's page on GitHub
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId)); // the sweep records drift, not a failure every 15 minutes

        SignInAs(c.OrgId, MemberRole.Member);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.Contains($"SelfTune can no longer read {c.Repo.FullName}", page.Find("[data-testid=drift]").TextContent));
        Assert.Contains(page.FindAll("[data-testid=drift] a"), a => a.GetAttribute("href")!.EndsWith($"/settings/installations/{c.Installation.Id}", StringComparison.Ordinal));

        // Asked for by a person, the same finding is an attempt that says why, and the drift stays.
        var asked = await ReconcileAsync(c.Api, c.ConnectionId);
        Assert.Contains($"1 failed: SelfTune can no longer read {c.Repo.FullName}", asked["message"]!.GetValue<string>());
        Assert.Equal(drift, asked["drift"]!.GetValue<string>());

        h.GitHub.AddRepoToInstallation(c.Installation, c.Repo);
        var mended = await ReconcileAsync(c.Api, c.ConnectionId);
        Assert.Null(Field(mended, "drift"));
        Assert.Equal(["0.0.0-github." + c.HeadSha[..7]], Published(mended));
    }

    [Fact]
    public async Task Reconcile_of_another_orgs_connection_is_not_found_and_a_read_only_key_may_not()
    {
        var c = await h.ConnectedOrgAsync("guarded");
        var (_, otherKey) = await App.CreateOrgAsync(Plan.Pro);
        using var other = App.CreateClient(otherKey);
        await GitHubHarness.AssertProblemAsync(await other.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/reconcile", null), HttpStatusCode.NotFound, "not_found");
        using var reader = App.CreateClient(await App.CreateKeyAsync(c.OrgId, [SelfTuneClaims.RegistryRead]));
        await GitHubHarness.AssertProblemAsync(await reader.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/reconcile", null), HttpStatusCode.Forbidden, "forbidden");
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
    }

    /// <summary>
    /// The pages' clock as a fake one, starting now, and a new org with an installation of "<paramref name="name"/>-gh" and one
    /// connection to "<paramref name="name"/>-gh/skills".
    /// </summary>
    async Task<(FakeTimeProvider Clock, Guid OrgId, GitHubInstallation Installation, GitHubConnection Connection)> OrgWithOneConnectionOnAClockAsync(string name)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        Services.AddSingleton<TimeProvider>(clock);
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId, name + "-gh");
        var connection = await App.ConnectionAsync(orgId, name, name + "-gh/skills", installation.InstallationId);
        return (clock, orgId, installation, connection);
    }

    [Fact]
    public async Task The_last_delivery_line_follows_deliveries_live_and_reads_the_connections_again_only_for_those_that_can_change_them()
    {
        var (clock, orgId, installation, connection) = await OrgWithOneConnectionOnAClockAsync("live");
        clock.Advance(TimeSpan.FromDays(8) + TimeSpan.FromHours(1)); // connected a moment after the clock started
        SignInAs(orgId, MemberRole.Viewer);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.Contains("1 active connection has heard nothing from GitHub for 8 days", page.Find("[data-testid=quiet-warning]").TextContent));
        var feed = App.Services.GetRequiredService<IChangeFeed>();

        // The connection is paused without news of it; then a check_run is announced (stored with a time before the
        // connection, so it ends no quiet spell): the line shows it, and still counts the connection as active: the
        // connections are not read again for a delivery that cannot change them.
        await App.WithDbAsync(db => db.Connections.Where(c => c.Id == connection.Id).ExecuteUpdateAsync(u => u.SetProperty(c => c.PausedReason, "paused unannounced")));
        var checkRun = await App.DeliveryAsync("check_run", installation.InstallationId, connection.RepoId, "live-gh/skills",
            receivedAt: clock.GetUtcNow().AddDays(-9));
        feed.Publish(Change.OfDelivery(checkRun));
        page.WaitForAssertion(() => Assert.Contains("check run on live-gh/skills", page.Find("[data-testid=last-delivery]").TextContent));
        Assert.Contains("1 active connection has heard nothing from GitHub for 8 days", page.Find("[data-testid=quiet-warning]").TextContent);

        // A repository event (it can pause or rename connections) reads them again: none is active, so nothing to warn about.
        var repository = await App.DeliveryAsync("repository", installation.InstallationId, connection.RepoId, "live-gh/skills",
            receivedAt: clock.GetUtcNow().AddDays(-8));
        feed.Publish(Change.OfDelivery(repository));
        page.WaitForAssertion(() => Assert.Contains("repository on live-gh/skills", page.Find("[data-testid=last-delivery]").TextContent));
        Assert.Empty(page.FindAll("[data-testid=quiet-warning]"));
    }

    [Fact]
    public async Task Overview_shows_the_last_delivery_and_warns_when_active_connections_heard_nothing_for_a_week()
    {
        var (clock, orgId, installation, connection) = await OrgWithOneConnectionOnAClockAsync("quiet");
        await App.DeliveryAsync("push", installation.InstallationId, connection.RepoId, "quiet-gh/skills", receivedAt: clock.GetUtcNow().AddMinutes(-3));
        SignInAs(orgId, MemberRole.Viewer);

        var fresh = RenderPage<Overview>();
        fresh.WaitForAssertion(() => Assert.Equal("Last delivery from GitHub arrived 3 min ago: push to quiet-gh/skills.",
            fresh.Find("[data-testid=last-delivery]").TextContent.Trim()));
        Assert.Empty(fresh.FindAll("[data-testid=quiet-warning]"));

        // Eight days on, nothing more has arrived: the warning says so, and what to check.
        clock.Advance(TimeSpan.FromDays(8) + TimeSpan.FromHours(1)); // connected a moment after the clock started
        await DisposeComponentsAsync(); // one page at a time (MudBlazor's providers)
        var quiet = RenderPage<Overview>();
        quiet.WaitForAssertion(() => Assert.Contains("1 active connection has heard nothing from GitHub for 8 days", quiet.Find("[data-testid=quiet-warning]").TextContent));
        var warning = quiet.Find("[data-testid=quiet-warning]").TextContent;
        Assert.Contains("webhook is Active", warning);
        Assert.Contains("/api/v1/github/webhook", warning);
        Assert.Contains("GitHub:WebhookSecret", warning);
        Assert.Contains("arrived 8 d ago: push to quiet-gh/skills", quiet.Find("[data-testid=last-delivery]").TextContent);
    }

    [Fact]
    public async Task No_quiet_warning_before_a_new_connection_had_a_week_nor_without_an_active_connection()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        Services.AddSingleton<TimeProvider>(clock);

        // Connected just now, nothing delivered yet: not quiet.
        var (newOrg, _) = await App.CreateOrgAsync(Plan.Pro);
        var newInstallation = await App.InstallationAsync(newOrg, "new-gh");
        await App.ConnectionAsync(newOrg, "fresh", "new-gh/skills", newInstallation.InstallationId);
        SignInAs(newOrg);
        var fresh = RenderPage<Overview>();
        fresh.WaitForAssertion(() => Assert.Contains("No delivery from GitHub has arrived for this org yet", fresh.Find("[data-testid=last-delivery]").TextContent));
        Assert.Empty(fresh.FindAll("[data-testid=quiet-warning]"));

        // A month on, an org with only a paused connection: nothing is listening, so nothing to warn about.
        clock.Advance(TimeSpan.FromDays(30) + TimeSpan.FromHours(1));
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId, "still-gh");
        await App.ConnectionAsync(orgId, "paused-only", "still-gh/old", installation.InstallationId, pausedReason: "repository still-gh/old was removed from the GitHub App installation");
        SignInAs(orgId);
        await DisposeComponentsAsync(); // one page at a time (MudBlazor's providers)
        var paused = RenderPage<Overview>();
        paused.WaitForAssertion(() => Assert.Contains("No delivery from GitHub has arrived for this org yet", paused.Find("[data-testid=last-delivery]").TextContent));
        Assert.Empty(paused.FindAll("[data-testid=quiet-warning]"));

        // An active connection, connected (by the database's clock) a month before this clock's now, has heard nothing.
        await App.ConnectionAsync(orgId, "listening", "still-gh/skills", installation.InstallationId);
        await DisposeComponentsAsync(); // one page at a time (MudBlazor's providers)
        var listening = RenderPage<Overview>();
        listening.WaitForAssertion(() => Assert.Contains("1 active connection has heard nothing from GitHub for 30 days", listening.Find("[data-testid=quiet-warning]").TextContent));
    }
}
