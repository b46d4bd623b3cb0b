using Microsoft.EntityFrameworkCore;
using Bunit;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Components.Pages.Overview;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

public sealed class OverviewPageTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{
    // Pages read the database and react to background work; a loaded CI machine needs more than bUnit's 1 s default.

    [Fact]
    public async Task Org_without_GitHub_is_pointed_to_the_setup_page()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        SignInAs(orgId);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.Contains("Publish skills from GitHub", page.Find("[data-testid=github-empty]").TextContent));
        Assert.Equal("/settings/github", page.Find("[data-testid=setup-github]").GetAttribute("href"));
        Assert.Contains("Dev Developer", page.Find("[data-testid=welcome]").TextContent);
    }

    [Fact]
    public async Task Shows_installations_connection_health_and_latest_attempts_of_this_org_only()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId, "acme-gh");
        var healthy = await App.ConnectionAsync(orgId, "hello", "acme-gh/skills", installation.InstallationId);
        await App.ConnectionAsync(orgId, "paused-skill", "acme-gh/old", installation.InstallationId, pausedReason: "repository acme-gh/old was removed from the GitHub App installation");
        await App.AttemptAsync(healthy, AttemptStatus.Published, "1.2.0", "Published 1.2.0 from acme-gh/skills.");
        var (otherOrg, _) = await App.CreateOrgAsync(Plan.Pro);
        var otherInstallation = await App.InstallationAsync(otherOrg, "other-gh");
        var other = await App.ConnectionAsync(otherOrg, "secret-skill", "other-gh/secret", otherInstallation.InstallationId);
        await App.AttemptAsync(other, AttemptStatus.Failed, message: "other org's failure");

        SignInAs(orgId, MemberRole.Viewer);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=connection-row]").Count));

        var inst = page.Find("[data-testid=installation]");
        Assert.Contains("acme-gh", inst.TextContent);
        Assert.Equal("active", inst.QuerySelector("[data-testid=installation-state]")!.TextContent.Trim());
        Assert.Contains(inst.QuerySelectorAll("[data-testid=permission]"), p => p.TextContent.Trim() == "checks: write");
        Assert.Contains("write-back via check runs", inst.QuerySelector("[data-testid=write-back-capability]")!.TextContent);

        Assert.Single(page.FindAll("[data-testid=paused]"));
        var published = page.FindAll("[data-testid=connection-row]").Single(r => r.TextContent.Contains("hello"));
        Assert.Equal("published", published.QuerySelector("[data-testid=attempt-status]")!.GetAttribute("data-status"));
        Assert.Contains("1.2.0", published.TextContent);

        Assert.Single(page.FindAll("[data-testid=latest-attempt]"));
        Assert.DoesNotContain("secret-skill", page.Markup);
        Assert.DoesNotContain("other org's failure", page.Markup);
    }

    [Fact]
    public async Task Uninstalled_and_suspended_installations_are_flagged_and_missing_write_permissions_explained()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.InstallationAsync(orgId, "gone-gh", deleted: true);
        await App.InstallationAsync(orgId, "frozen-gh", suspended: true, permissions: """{"contents":"read"}""");
        SignInAs(orgId);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=installation]").Count));
        var states = page.FindAll("[data-testid=installation-state]").Select(s => s.TextContent.Trim()).Order().ToList();
        Assert.Equal(["suspended", "uninstalled"], states);
        Assert.Contains("its connections are paused", page.Markup);
        Assert.Contains("no write-back: grant Checks or Commit statuses", page.Markup);
    }

    [Fact]
    public async Task Attempts_appear_and_change_live_without_a_reload()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connection = await App.ConnectionAsync(orgId, "live-skill", "acme-gh/live", installation.InstallationId);
        SignInAs(orgId);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=no-attempts]")));

        // A publish starts (queued, with a spinner) ...
        var running = await App.AttemptAsync(connection, AttemptStatus.Running, trigger: AttemptTrigger.Tag);
        page.WaitForAssertion(() => Assert.Equal("running", page.Find("[data-testid=latest-attempt] [data-testid=attempt-status]").GetAttribute("data-status")));
        Assert.NotEmpty(page.FindAll("[data-testid=latest-attempt] .mud-progress-circular"));

        // ... and finishes: the same row turns green, and the connection's health follows.
        await App.WithDbAsync(async db =>
        {
            var a = db.Attempts.Single(x => x.Id == running.Id);
            a.Status = AttemptStatus.Published;
            a.Version = "2.0.0";
            a.FinishedAt = DateTimeOffset.UtcNow;
            await db.SaveChangesAsync();
            App.Services.GetRequiredService<IChangeFeed>().Publish(Change.OfAttempt(a));
            return 0;
        });
        page.WaitForAssertion(() =>
        {
            Assert.Equal("published", page.Find("[data-testid=latest-attempt] [data-testid=attempt-status]").GetAttribute("data-status"));
            Assert.Contains("2.0.0", page.Find("[data-testid=connection-row]").TextContent);
        });

        // An installation change arrives as a webhook: the page re-reads on the delivery news too.
        await App.WithDbAsync(async db =>
        {
            db.Installations.Single(i => i.Id == installation.Id).Suspended = true;
            return await db.SaveChangesAsync();
        });
        App.Services.GetRequiredService<IChangeFeed>().Publish(Change.OfDelivery(new WebhookDelivery
            { DeliveryId = "d", Event = "installation", Action = "suspend", InstallationId = installation.InstallationId, Payload = "{}", Outcome = DeliveryOutcome.Processed }));
        page.WaitForAssertion(() => Assert.Equal("suspended", page.Find("[data-testid=installation-state]").TextContent.Trim()));
    }

    [Fact]
    public async Task A_new_attempt_renders_its_line_and_leaves_the_lines_that_only_moved_down_as_they_were()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connection = await App.ConnectionAsync(orgId, "steady-skill", "acme-gh/steady", installation.InstallationId);
        for (var i = 0; i < Overview.Shown; i++) await App.AttemptAsync(connection, AttemptStatus.Published, version: $"1.0.{i}", notify: false);
        // "2 h ago" for the next half hour: no line's age changes while the test runs.
        await App.WithDbAsync(db => db.Attempts.Where(a => a.ConnectionId == connection.Id)
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.CreatedAt, DateTimeOffset.UtcNow.AddHours(-2.5)).SetProperty(a => a.FinishedAt, DateTimeOffset.UtcNow.AddHours(-2.5))));
        SignInAs(orgId);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.Equal(Overview.Shown, page.FindAll("[data-testid=latest-attempt]").Count));
        var before = RowsOf<LatestAttemptRow>(page, r => r.Attempt.Id);

        var latest = await App.AttemptAsync(connection, AttemptStatus.Running, trigger: AttemptTrigger.Tag);

        page.WaitForAssertion(() => Assert.Equal(latest.Id.ToString(), page.Find("[data-testid=latest-attempt]").GetAttribute("data-attempt-id")));
        var lines = page.FindComponents<LatestAttemptRow>();
        Assert.Equal(Overview.Shown, lines.Count);
        before.AssertNotRenderedAgain(lines.Skip(1)); // the other nine moved down one place: the same components, not rendered again
    }

    [Fact]
    public async Task A_re_sync_after_missed_notifications_makes_the_page_read_everything_again()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        await App.ConnectionAsync(orgId, "resync-skill", "acme-gh/resync", installation.InstallationId);
        SignInAs(orgId);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.Equal("active", page.Find("[data-testid=installation-state]").TextContent.Trim()));

        // A change another instance made whose notification was lost: the feed that crosses instances can only say
        // "something of this kind may have changed" after it reconnects (PostgresChangeFeed.Resync).
        await App.WithDbAsync(async db =>
        {
            db.Installations.Single(i => i.Id == installation.Id).Suspended = true;
            return await db.SaveChangesAsync();
        });
        App.Services.GetRequiredService<IChangeFeed>().Publish(new Change(orgId, ChangeKind.Delivery));
        page.WaitForAssertion(() => Assert.Equal("suspended", page.Find("[data-testid=installation-state]").TextContent.Trim()));
    }
}
