using System.Net;
using Bunit;
using Bunit.TestDoubles;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Components.Pages.Connections;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Components;

/// <summary>The connections list and detail, on the real app wired to a fake GitHub.</summary>
public sealed class ConnectionsPageTests(GitHubHarness h) : PageTestContext(h.App), IClassFixture<GitHubHarness>
{
    // Pages read the database and react to background work; a loaded CI machine needs more than bUnit's 1 s default.

    string Web => h.GitHub.BaseUrl.ToString().TrimEnd('/');

    [Fact]
    public async Task Empty_org_is_offered_to_connect_a_repository()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        SignInAs(orgId);
        var page = RenderPage<Connections>();
        page.WaitForAssertion(() => Assert.Contains("No connected repositories yet", page.Find("[data-testid=empty]").TextContent));
        Assert.Equal("/settings/github", page.Find("[data-testid=connect-repo]").GetAttribute("href"));
    }

    [Fact]
    public async Task List_shows_settings_paused_reason_and_last_attempt_and_updates_live()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var active = await App.ConnectionAsync(orgId, "hello", "acme-gh/skills", installation.InstallationId);
        var paused = await App.ConnectionAsync(orgId, "legacy", "acme-gh/legacy", installation.InstallationId,
            pausedReason: "the GitHub App was uninstalled from acme-gh");
        await App.AttemptAsync(active, AttemptStatus.Published, "0.0.0-github.0123456");
        SignInAs(orgId, MemberRole.Viewer);

        var page = RenderPage<Connections>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=connection-link]").Count));
        Assert.Equal($"/connections/{active.Id}", page.FindAll("[data-testid=connection-link]").Single(l => l.TextContent == "hello").GetAttribute("href"));
        Assert.Contains(page.FindAll("[data-testid=repo-link]"), l => l.GetAttribute("href") == $"{Web}/acme-gh/skills");
        Assert.Contains("the GitHub App was uninstalled from acme-gh", page.Find("[data-testid=paused]").TextContent);
        Assert.Contains("v*", page.Markup);
        Assert.Contains(page.FindAll("[data-testid=last-attempt]"), c => c.TextContent.Contains("no attempts yet"));
        Assert.Equal("published", page.Find("[data-testid=attempt-status]").GetAttribute("data-status"));
        Assert.Empty(page.FindAll("[data-testid=connect-repo]")); // a viewer cannot connect

        // A webhook attempt for the paused connection: the row updates without a new render.
        await App.AttemptAsync(paused, AttemptStatus.Skipped, message: "Skipped: the connection is paused");
        page.WaitForAssertion(() => Assert.Equal(["published", "skipped"],
            page.FindAll("[data-testid=attempt-status]").Select(s => s.GetAttribute("data-status")!).Order().ToList()));
    }

    [Fact]
    public async Task Detail_of_another_orgs_connection_is_not_found_and_shows_nothing_of_it()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var (otherOrg, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(otherOrg, "other-gh");
        var theirs = await App.ConnectionAsync(otherOrg, "their-skill", "other-gh/private-skills", installation.InstallationId);
        SignInAs(orgId);

        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), theirs.Id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=not-found]")));
        Assert.DoesNotContain("their-skill", page.Markup);
        Assert.DoesNotContain("private-skills", page.Markup);
    }

    [Fact]
    public async Task Detail_of_an_unknown_connection_is_not_found()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        SignInAs(orgId);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), Guid.NewGuid()));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=not-found]")));
    }

    [Fact]
    public async Task Member_syncs_now_against_GitHub_and_sees_the_published_result_but_cannot_edit()
    {
        var c = await h.ConnectedOrgAsync("syncer", new { write_back_enabled = true });
        SignInAs(c.OrgId, MemberRole.Member);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=no-attempts]")));
        Assert.Empty(page.FindAll("[data-testid=save-settings]"));
        Assert.Empty(page.FindAll("[data-testid=delete-connection]"));

        await ClickAsync(page, () => page.Find("[data-testid=sync-now]"));
        var version = $"0.0.0-github.{c.HeadSha[..7]}";
        page.WaitForAssertion(() =>
        {
            var attempt = page.Find("[data-testid=attempt]");
            Assert.Equal("published", attempt.QuerySelector("[data-testid=attempt-status]")!.GetAttribute("data-status"));
            Assert.Equal(version, attempt.QuerySelector("[data-testid=attempt-version]")!.TextContent);
            Assert.Equal("manual", attempt.QuerySelector("[data-testid=attempt-trigger]")!.TextContent.Trim());
            Assert.Contains($"Sync published: Published {version} from syncer-gh/skills.", page.Markup); // the snackbar
        }, PageSeed.Slow);
        page.WaitForAssertion(() => Assert.False(page.Find("[data-testid=sync-now]").HasAttribute("disabled")));

        var row = page.Find("[data-testid=attempt]");
        Assert.Equal($"/registry/{c.EntryId}", row.QuerySelector("[data-testid=attempt-version]")!.GetAttribute("href"));
        Assert.Equal($"{Web}/syncer-gh/skills/commit/{c.HeadSha}", row.QuerySelector("[data-testid=attempt-ref]")!.GetAttribute("href"));
        var stored = await App.WithDbAsync(db => db.Attempts.SingleAsync(a => a.ConnectionId == c.ConnectionId));
        Assert.Equal(WriteBackStatus.Success, stored.WriteBackStatus);
        Assert.Equal($"{Web}/syncer-gh/skills/runs/{stored.CheckRunId}", row.QuerySelector("[data-testid=check-run-link]")!.GetAttribute("href"));
    }

    [Fact]
    public async Task Timeline_updates_live_when_a_webhook_publishes()
    {
        var c = await h.ConnectedOrgAsync("webhooked");
        SignInAs(c.OrgId, MemberRole.Viewer);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=no-attempts]")));
        Assert.Empty(page.FindAll("[data-testid=sync-now]")); // a viewer only reads

        var next = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("webhooked", extra: "v2"));
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendWebhookAsync("push", h.GitHub.Payloads.Push(c.Repo, "main"))).StatusCode);

        page.WaitForAssertion(() =>
        {
            var attempt = page.Find("[data-testid=attempt]");
            Assert.Equal("published", attempt.QuerySelector("[data-testid=attempt-status]")!.GetAttribute("data-status"));
            Assert.Equal("push", attempt.QuerySelector("[data-testid=attempt-trigger]")!.TextContent.Trim());
            Assert.Equal($"0.0.0-github.{next[..7]}", attempt.QuerySelector("[data-testid=attempt-version]")!.TextContent);
            Assert.NotNull(attempt.QuerySelector("[data-testid=attempt-delivery]"));
        }, PageSeed.Slow);
    }

    [Fact]
    public async Task Admin_saves_settings_and_sees_validation_errors_from_the_server()
    {
        var c = await h.ConnectedOrgAsync("editor");
        SignInAs(c.OrgId, MemberRole.Admin);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.Equal("v*", page.InputOf("tag-pattern").GetAttribute("value")));
        Assert.True(page.Find("[data-testid=save-settings]").HasAttribute("disabled")); // nothing changed yet

        await InputAsync(page, () => page.InputOf("tag-pattern"), "release-[x");
        page.WaitForAssertion(() => Assert.False(page.Find("[data-testid=save-settings]").HasAttribute("disabled")));
        await ClickAsync(page, () => page.Find("[data-testid=save-settings]"));
        page.WaitForAssertion(() =>
        {
            Assert.Contains("has a '[' without a closing ']'", page.Find("[data-testid=error]").TextContent);
            Assert.Contains(page.FindAll(".mud-input-error"), e => e.TextContent.Contains("has a '[' without a closing ']'")); // under the field
        });

        await InputAsync(page, () => page.InputOf("tag-pattern"), "release-*");
        await InputAsync(page, () => page.InputOf("skill-path"), "skills/editor");
        await ClickAsync(page, () => page.Find("[data-testid=save-settings]"));
        page.WaitForAssertion(() => Assert.Contains("Settings saved.", page.Markup));
        var stored = await App.WithDbAsync(db => db.Connections.AsNoTracking().SingleAsync(x => x.Id == c.ConnectionId));
        Assert.Equal("release-*", stored.TagPattern);
        Assert.Equal("skills/editor", stored.SkillPath);
        Assert.Empty(page.FindAll("[data-testid=error]"));
    }

    [Fact]
    public async Task Delete_confirms_that_published_versions_stay_then_deletes_and_returns_to_the_list()
    {
        var c = await h.ConnectedOrgAsync("deleter");
        var sync = await c.Api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null);
        Assert.Equal(HttpStatusCode.OK, sync.StatusCode);
        SignInAs(c.OrgId, MemberRole.Owner);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=attempt]")));

        await ClickAsync(page, () => page.Find("[data-testid=delete-connection]"));
        page.WaitForAssertion(() => Assert.Contains("Published versions of deleter stay in the registry", page.Find(".mud-dialog").TextContent));
        // Cancel keeps it.
        await ClickAsync(page, () => page.FindAll(".mud-dialog button").Single(b => b.TextContent.Trim() == "Cancel"));
        page.WaitForAssertion(() => Assert.Empty(page.FindAll(".mud-dialog")));
        Assert.True(await App.WithDbAsync(db => db.Connections.AnyAsync(x => x.Id == c.ConnectionId)));

        await ClickAsync(page, () => page.Find("[data-testid=delete-connection]"));
        page.WaitForAssertion(() => page.FindAll(".mud-dialog button").Single(b => b.TextContent.Trim() == "Delete").Click());
        var nav = Services.GetRequiredService<NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith("/connections", nav.Uri));
        Assert.False(await App.WithDbAsync(db => db.Connections.AnyAsync(x => x.Id == c.ConnectionId)));
        Assert.True(await App.WithDbAsync(db => db.Versions.AnyAsync(v => v.EntryId == c.EntryId)));
    }

    [Fact]
    public async Task Viewer_sees_the_settings_read_only()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connection = await App.ConnectionAsync(orgId, "readonly", "acme-gh/readonly", installation.InstallationId);
        SignInAs(orgId, MemberRole.Viewer);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), connection.Id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=read-only-note]")));
        Assert.True(page.InputOf("tag-pattern").HasAttribute("readonly"));
        Assert.Empty(page.FindAll("[data-testid=save-settings]"));
        Assert.Empty(page.FindAll("[data-testid=delete-connection]"));
        Assert.Empty(page.FindAll("[data-testid=sync-now]"));
    }
}
