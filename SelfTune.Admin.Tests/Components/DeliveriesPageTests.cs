using System.Net;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Components.Pages.Deliveries;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Components;

/// <summary>The deliveries list and detail, on the real app wired to a fake GitHub (webhooks go through the real receiver and job).</summary>
public sealed class DeliveriesPageTests(GitHubHarness h) : PageTestContext(h.App), IClassFixture<GitHubHarness>
{
    // Pages read the database and react to background work; a loaded CI machine needs more than bUnit's 1 s default.

    [Fact]
    public async Task Empty_org_explains_where_deliveries_come_from()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        SignInAs(orgId);
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Contains("No webhook deliveries yet", page.Find("[data-testid=empty]").TextContent));
        Assert.Contains("/settings/github", page.Find("[data-testid=empty]").InnerHtml);
    }

    [Fact]
    public async Task Lists_only_the_orgs_deliveries_and_filters_by_text()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connection = await App.ConnectionAsync(orgId, "hello", "acme-gh/skills", installation.InstallationId);
        var byInstallation = await App.DeliveryAsync("installation", installation.InstallationId, message: "Installation suspended.",
            receivedAt: DateTimeOffset.UtcNow.AddMinutes(-5));
        // Another installation, but a repository this org connected (e.g. a second installation's webhook).
        var byRepo = await App.DeliveryAsync("push", PageSeed.NewGitHubId(), connection.RepoId, "acme-gh/skills", message: "Push to main: 1 attempt(s) queued.");
        await App.DeliveryAsync("push", PageSeed.NewGitHubId(), PageSeed.NewGitHubId(), "stranger/secret-repo");

        SignInAs(orgId, MemberRole.Viewer);
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=delivery-link]").Count));
        Assert.DoesNotContain("secret-repo", page.Markup);
        Assert.Equal([byRepo.DeliveryId, byInstallation.DeliveryId], page.FindAll("[data-testid=delivery-link]").Select(l => l.TextContent).ToList()); // newest first
        Assert.Equal($"/deliveries/{byRepo.Id}", page.FindAll("[data-testid=delivery-link]")[0].GetAttribute("href"));
        Assert.Equal(["processed", "processed"], page.FindAll("[data-testid=delivery-outcome]").Select(o => o.GetAttribute("data-outcome")!).ToList());

        await InputAsync(page, () => page.InputOf("search"), byInstallation.DeliveryId[..13]);
        page.WaitForAssertion(() => Assert.Equal([byInstallation.DeliveryId], page.FindAll("[data-testid=delivery-link]").Select(l => l.TextContent).ToList()));
        await InputAsync(page, () => page.InputOf("search"), "ACME-GH/SKI"); // repository, any case
        page.WaitForAssertion(() => Assert.Equal([byRepo.DeliveryId], page.FindAll("[data-testid=delivery-link]").Select(l => l.TextContent).ToList()));
        await InputAsync(page, () => page.InputOf("search"), "nothing-like-this");
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=no-match]")));
        await ClickAsync(page, () => page.Find("[data-testid=clear-filters]"));
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=delivery-link]").Count));
    }

    [Fact]
    public async Task Admins_see_a_banner_for_deliveries_rejected_for_their_signature_and_when_the_last_delivery_arrived()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        await App.DeliveryAsync("push", installation.InstallationId, receivedAt: DateTimeOffset.UtcNow.AddMinutes(-3));
        using (var wrong = h.GitHub.CreateWebhookRequest(new Uri(h.Api.BaseAddress!, "/api/v1/github/webhook"), "push", "{}"))
        {
            wrong.Headers.Remove("X-Hub-Signature-256");
            wrong.Headers.Add("X-Hub-Signature-256", "sha256=" + new string('0', 64));
            Assert.Equal(HttpStatusCode.Unauthorized, (await h.Api.SendAsync(wrong)).StatusCode);
        }

        SignInAs(orgId, MemberRole.Admin);
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Contains("rejected in the last 24 h", page.Find("[data-testid=rejected-banner]").TextContent));
        Assert.Contains("signature mismatch (", page.Find("[data-testid=rejected-banner]").TextContent);
        Assert.Contains("check GitHub:WebhookSecret", page.Find("[data-testid=rejected-banner]").TextContent);
        // The last-delivery line is its own component (LastDeliveryLine), loaded apart from the banner: wait for it too.
        page.WaitForAssertion(() => Assert.Contains("Last delivery from GitHub arrived 3 min", page.Find("[data-testid=last-delivery]").TextContent));
        // Rejected rows carry no org: a member lists none of them, and only operators are offered the filter.
        Assert.DoesNotContain("rejected:", page.Markup);
        Assert.Empty(page.FindAll("[data-testid=rejected-link]"));
    }

    [Fact]
    public async Task Viewers_see_no_rejected_banner()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        using (var unsigned = h.GitHub.CreateWebhookRequest(new Uri(h.Api.BaseAddress!, "/api/v1/github/webhook"), "push", "{}"))
        {
            unsigned.Headers.Remove("X-Hub-Signature-256");
            Assert.Equal(HttpStatusCode.Unauthorized, (await h.Api.SendAsync(unsigned)).StatusCode);
        }
        SignInAs(orgId, MemberRole.Viewer);
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Contains("No delivery from GitHub has arrived", page.Find("[data-testid=last-delivery]").TextContent));
        Assert.Empty(page.FindAll("[data-testid=rejected-banner]"));
    }

    [Fact]
    public async Task A_link_with_q_opens_the_list_searched()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var wanted = await App.DeliveryAsync("push", installation.InstallationId);
        await App.DeliveryAsync("push", installation.InstallationId);
        SignInAs(orgId);
        Services.GetRequiredService<NavigationManager>().NavigateTo($"/deliveries?q={wanted.DeliveryId}");
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Equal([wanted.DeliveryId], page.FindAll("[data-testid=delivery-link]").Select(l => l.TextContent).ToList()));
        Assert.Equal(wanted.DeliveryId, page.InputOf("search").GetAttribute("value"));
    }

    [Fact]
    public async Task Filters_by_outcome_and_event_and_pages()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        for (var i = 0; i < Deliveries.PageSize + 2; i++)
            await App.DeliveryAsync("push", installation.InstallationId, receivedAt: start.AddSeconds(i));
        var failed = await App.DeliveryAsync("create", installation.InstallationId, outcome: DeliveryOutcome.Failed, message: "payload could not be processed");
        SignInAs(orgId);

        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Equal(Deliveries.PageSize, page.FindAll("[data-testid=delivery-link]").Count));
        Assert.Contains($"{Deliveries.PageSize + 3} deliveries", page.Find("[data-testid=total]").TextContent);

        // Page 2 holds the oldest three.
        await ClickAsync(page, () => page.FindAll("[data-testid=pager] button").Single(b => b.TextContent.Trim() == "2"));
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=delivery-link]").Count));

        await SelectAsync(page, "outcome-filter", "failed");
        page.WaitForAssertion(() => Assert.Equal([failed.DeliveryId], page.FindAll("[data-testid=delivery-link]").Select(l => l.TextContent).ToList()));
        await SelectAsync(page, "outcome-filter", "All outcomes");
        await SelectAsync(page, "event-filter", "create");
        page.WaitForAssertion(() => Assert.Equal([failed.DeliveryId], page.FindAll("[data-testid=delivery-link]").Select(l => l.TextContent).ToList()));
    }

    /// <summary>Opens a MudSelect and picks the item with <paramref name="text"/>.</summary>
    static async Task SelectAsync(IRenderedComponent<ContainerFragment> page, string testId, string text)
    {
        await page.Find($"[data-testid={testId}] .mud-input-control-input-container, .mud-select:has([data-testid={testId}]) .mud-input-control-input-container")
            .QuerySelector(".mud-input-slot, input, div")!.MouseDownAsync(new());
        page.WaitForAssertion(() => Assert.Contains(page.FindAll(".mud-popover-open .mud-list-item"), i => i.TextContent.Trim() == text));
        await ClickAsync(page, () => page.FindAll(".mud-popover-open .mud-list-item").First(i => i.TextContent.Trim() == text));
    }

    [Fact]
    public async Task An_open_first_page_shows_new_deliveries_on_top_and_counts_each_once()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        WebhookDelivery newest = null!;
        for (var i = 0; i < Deliveries.PageSize + 2; i++)
            newest = await App.DeliveryAsync("push", installation.InstallationId, receivedAt: start.AddSeconds(i));
        SignInAs(orgId);
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Contains($"{Deliveries.PageSize + 2} deliveries", page.Find("[data-testid=total]").TextContent));

        // Announced as the receiver announces what it stores: one received at the very time of the newest shown, with an
        // id that sorts it after that one (so it is new but not newer), one now, and one of another org's installation.
        var feed = App.Services.GetRequiredService<IChangeFeed>();
        var tied = await App.WithDbAsync(async db =>
        {
            var row = new WebhookDelivery
            {
                Id = new Guid($"00000000-0000-0000-0000-{Random.Shared.NextInt64(1L << 40):x12}"), DeliveryId = Guid.NewGuid().ToString(),
                Event = "create", InstallationId = installation.InstallationId, ReceivedAt = newest.ReceivedAt, Outcome = DeliveryOutcome.Processed, Payload = "{}",
            };
            db.Deliveries.Add(row);
            await db.SaveChangesAsync();
            return row;
        });
        var latest = await App.DeliveryAsync("push", installation.InstallationId);
        var stranger = await App.DeliveryAsync("push", PageSeed.NewGitHubId());
        foreach (var delivery in new[] { tied, latest, stranger }) feed.Publish(Change.OfDelivery(delivery));

        page.WaitForAssertion(() =>
        {
            var shown = page.FindAll("[data-testid=delivery-link]").Select(l => l.TextContent).ToList();
            Assert.Equal(latest.DeliveryId, shown[0]);
            Assert.Contains(tied.DeliveryId, shown.Take(3));
            Assert.DoesNotContain(stranger.DeliveryId, shown);
            Assert.Contains($"{Deliveries.PageSize + 4} deliveries", page.Find("[data-testid=total]").TextContent);
        });

        // More than a page at once: the total still grows by each.
        var burst = new List<WebhookDelivery>();
        for (var i = 0; i < Deliveries.PageSize + 5; i++) burst.Add(await App.DeliveryAsync("push", installation.InstallationId));
        foreach (var delivery in burst) feed.Publish(Change.OfDelivery(delivery));
        page.WaitForAssertion(() =>
        {
            Assert.Equal(burst[^1].DeliveryId, page.FindAll("[data-testid=delivery-link]")[0].TextContent);
            Assert.Contains($"{2 * Deliveries.PageSize + 9} deliveries", page.Find("[data-testid=total]").TextContent);
        });
    }

    [Fact]
    public async Task A_live_update_renders_the_new_row_and_leaves_the_rows_that_only_moved_down_as_they_were()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var start = DateTimeOffset.UtcNow.AddHours(-2.5); // "2 h ago" for the next half hour: no row's age changes meanwhile
        for (var i = 0; i < Deliveries.PageSize; i++) await App.DeliveryAsync("push", installation.InstallationId, receivedAt: start.AddSeconds(i));
        SignInAs(orgId);
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.Contains($"{Deliveries.PageSize} deliveries", page.Find("[data-testid=total]").TextContent));
        var before = RowsOf<DeliveryRow>(page, r => r.Row.DeliveryId);

        var latest = await App.DeliveryAsync("push", installation.InstallationId);
        App.Services.GetRequiredService<IChangeFeed>().Publish(Change.OfDelivery(latest));

        page.WaitForAssertion(() => Assert.Equal(latest.DeliveryId, page.FindAll("[data-testid=delivery-link]")[0].TextContent));
        var rows = page.FindComponents<DeliveryRow>();
        Assert.Equal(Deliveries.PageSize, rows.Count);
        Assert.Equal(latest.DeliveryId, rows[0].Instance.Row.DeliveryId);
        before.AssertNotRenderedAgain(rows.Skip(1)); // the other 24 moved down one place: the same components, not rendered again
    }

    [Fact]
    public async Task New_webhooks_appear_live_and_turn_into_what_they_published()
    {
        var c = await h.ConnectedOrgAsync("livelist");
        SignInAs(c.OrgId);
        var page = RenderPage<Deliveries>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=empty]")));

        var next = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("livelist", extra: "v2"));
        var deliveryId = Guid.NewGuid().ToString();
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendWebhookAsync("push", h.GitHub.Payloads.Push(c.Repo, "main"), deliveryId)).StatusCode);

        page.WaitForAssertion(() =>
        {
            var link = page.Find("[data-testid=delivery-link]");
            Assert.Equal(deliveryId, link.TextContent);
            Assert.Equal("processed", page.Find("[data-testid=delivery-outcome]").GetAttribute("data-outcome"));
            // Not "1 attempt(s) queued" once the attempt has finished: what it published (the attempt's change, live).
            Assert.Equal("published", page.Find("[data-testid=delivery-outcome]").GetAttribute("data-result"));
            Assert.Contains($"Published 0.0.0-github.{next[..7]} to livelist.", page.Markup);
        }, PageSeed.Slow);
        Assert.Equal("push", page.Find("[data-testid=delivery-event]").TextContent);
    }

    [Fact]
    public async Task Detail_shows_summary_outcome_attempts_and_payload()
    {
        var c = await h.ConnectedOrgAsync("detailed");
        var next = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("detailed", extra: "v2"));
        var deliveryId = Guid.NewGuid().ToString();
        await h.SendWebhookAsync("push", h.GitHub.Payloads.Push(c.Repo, "main"), deliveryId);
        await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);
        var row = await App.WithDbAsync(db => db.Deliveries.SingleAsync(d => d.DeliveryId == deliveryId));
        SignInAs(c.OrgId, MemberRole.Viewer);

        var page = RenderPage<DeliveryDetail>((nameof(DeliveryDetail.Id), row.Id));
        page.WaitForAssertion(() => Assert.Equal("published", page.Find("[data-testid=delivery-attempts] [data-testid=attempt-status]").GetAttribute("data-status")));
        Assert.Equal(deliveryId, page.Find("[data-testid=delivery-id]").TextContent);
        Assert.Equal("push", page.Find("[data-testid=delivery-title]").TextContent);
        Assert.Equal("processed", page.Find("[data-testid=delivery-outcome]").GetAttribute("data-outcome"));
        Assert.Equal("published", page.Find("[data-testid=delivery-outcome]").GetAttribute("data-result"));
        // The final result, not what processing queued ("Push to main: 1 attempt(s) queued.").
        Assert.Equal($"Published 0.0.0-github.{next[..7]} to detailed.", page.Find("[data-testid=outcome-message]").TextContent);
        Assert.Equal($"/connections/{c.ConnectionId}", page.Find("[data-testid=attempt-connection]").GetAttribute("href"));
        Assert.Contains($"0.0.0-github.{next[..7]}", page.Find("[data-testid=delivery-attempts]").TextContent);
        var payload = page.Find("[data-testid=payload]").TextContent;
        Assert.Contains("\"ref\": \"refs/heads/main\"", payload); // pretty-printed
        Assert.Contains($"\"after\": \"{next}\"", payload);
        Assert.Contains("\n  ", payload);
        Assert.Empty(page.FindAll("[data-testid=replay]")); // a viewer cannot replay
    }

    [Fact]
    public async Task Detail_of_a_delivery_of_no_concern_to_the_org_is_not_found()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.InstallationAsync(orgId);
        var foreign = await App.DeliveryAsync("push", PageSeed.NewGitHubId(), PageSeed.NewGitHubId(), "stranger/secret-repo",
            payload: """{"secret":"do-not-show"}""");
        SignInAs(orgId, MemberRole.Owner);
        var page = RenderPage<DeliveryDetail>((nameof(DeliveryDetail.Id), foreign.Id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=not-found]")));
        Assert.DoesNotContain("do-not-show", page.Markup);
        Assert.DoesNotContain("secret-repo", page.Markup);
    }

    [Fact]
    public async Task Replay_creates_a_new_delivery_that_is_processed_again()
    {
        var c = await h.ConnectedOrgAsync("replayed");
        var deliveryId = Guid.NewGuid().ToString();
        await h.SendWebhookAsync("push", h.GitHub.Payloads.Push(c.Repo, "main"), deliveryId);
        await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);
        var original = await App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        SignInAs(c.OrgId, MemberRole.Admin);

        var page = RenderPage<DeliveryDetail>((nameof(DeliveryDetail.Id), original.Id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=replay]")));
        await ClickAsync(page, () => page.Find("[data-testid=replay]"));

        var nav = Services.GetRequiredService<NavigationManager>();
        WebhookDelivery? replay = null;
        await WaitUntilAsync(async () =>
        {
            replay = await App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleOrDefaultAsync(d => d.DeliveryId == deliveryId + ":replay-1"));
            return replay?.Outcome == DeliveryOutcome.Processed;
        });
        Assert.Equal(original.Payload, replay!.Payload);
        Assert.Equal("push", replay.Event);
        page.WaitForAssertion(() => Assert.EndsWith($"/deliveries/{replay.Id}", nav.Uri));
        // The original is untouched and lists its replay, live.
        page.WaitForAssertion(() => Assert.Equal(deliveryId + ":replay-1", page.Find("[data-testid=replay-link]").TextContent));
        Assert.Equal(DeliveryOutcome.Processed, (await App.WithDbAsync(db => db.Deliveries.SingleAsync(d => d.Id == original.Id))).Outcome);

        // Processing again made a new attempt from the same commit: already published, so unchanged.
        var attempts = await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 2);
        Assert.Equal(deliveryId + ":replay-1", attempts[0].DeliveryId);
        Assert.Equal(AttemptStatus.Unchanged, attempts[0].Status);
    }

    [Fact]
    public async Task Replay_acts_only_on_the_replaying_orgs_connections()
    {
        // Org A and org B both bound the installation and connected the same repository. B's connection is paused, so a
        // delivery reaching it leaves a skipped attempt and no publish job.
        var a = await h.ConnectedOrgAsync("replayscope");
        var (orgB, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.InstallationAsync(orgB, a.Installation.AccountLogin, installationId: a.Installation.Id);
        var b = await App.ConnectionAsync(orgB, "replayscope-b", "replayscope-gh/skills", a.Installation.Id, pausedReason: "paused by org B", repoId: a.Repo.Id);
        var deliveryId = Guid.NewGuid().ToString();
        await h.SendWebhookAsync("push", h.GitHub.Payloads.Push(a.Repo, "main"), deliveryId);
        await h.WaitForFinishedAttemptsAsync(a.ConnectionId, 1);
        // A delivery from GitHub concerns every org that connected the repository.
        Assert.Equal([deliveryId], await App.WithDbAsync(db => db.Attempts.Where(x => x.ConnectionId == b.Id).Select(x => x.DeliveryId!).ToListAsync()));
        var original = await App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));

        SignInAs(a.OrgId, MemberRole.Admin);
        var page = RenderPage<DeliveryDetail>((nameof(DeliveryDetail.Id), original.Id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=replay]")));
        await ClickAsync(page, () => page.Find("[data-testid=replay]"));
        WebhookDelivery? replay = null;
        await WaitUntilAsync(async () =>
        {
            replay = await App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleOrDefaultAsync(d => d.DeliveryId == deliveryId + ":replay-1"));
            return replay?.Outcome == DeliveryOutcome.Processed;
        });

        // Only A got a new attempt; B's connection saw nothing of A's replay.
        var attemptsOfA = await h.WaitForFinishedAttemptsAsync(a.ConnectionId, 2);
        Assert.Equal(deliveryId + ":replay-1", attemptsOfA[0].DeliveryId);
        Assert.Equal([deliveryId], await App.WithDbAsync(db => db.Attempts.Where(x => x.ConnectionId == b.Id).Select(x => x.DeliveryId!).ToListAsync()));
        Assert.False(await App.WithDbAsync(db => db.Attempts.AnyAsync(x => x.OrgId == orgB && x.DeliveryId == deliveryId + ":replay-1")));
        Assert.Equal("Push to main: 1 attempt(s) queued.", replay!.OutcomeMessage);

        // The replay is A's: A lists it, B (bound to the same installation) lists only GitHub's original and cannot open it.
        await using var scope = App.Services.CreateAsyncScope();
        var deliveries = scope.ServiceProvider.GetRequiredService<SelfTune.Admin.GitHub.Webhooks.DeliveryService>();
        async Task<List<string>> ListedAsync(Guid orgId) =>
            (await deliveries.ListAsync(orgId, new(Search: deliveryId), 0, 50)).Items.Select(d => d.DeliveryId).ToList();
        Assert.Equal([deliveryId + ":replay-1", deliveryId], await ListedAsync(a.OrgId));
        Assert.Equal([deliveryId], await ListedAsync(orgB));
        Assert.Null(await deliveries.GetAsync(orgB, replay.Id));
        Assert.Empty(await deliveries.ReplaysOfAsync(orgB, deliveryId));

        // A's audit log names the replay and who made it; B's log has nothing of it.
        // The entry is saved just after the replay's delivery row (which the group-commit writer stores on its own), so the
        // replay may be processed before the click's handler has written it: wait for it.
        List<SelfTune.Admin.Audit.AuditEntry> recorded = [];
        await WaitUntilAsync(async () =>
        {
            recorded = await App.WithDbAsync(db => db.AuditEntries.Where(e => e.Action == "delivery.replay" && e.TargetId == original.Id.ToString()).ToListAsync());
            return recorded.Count > 0;
        });
        var entry = Assert.Single(recorded);
        Assert.Equal((a.OrgId, "Dev Developer", SelfTune.Admin.Audit.AuditActorKind.Member), (entry.OrgId, entry.ActorName, entry.ActorKind));
        Assert.Equal(("delivery", deliveryId), (entry.TargetType, entry.TargetName));
        Assert.Equal($"push replayed as {deliveryId}:replay-1", entry.Summary);
    }

    [Fact]
    public async Task State_changing_deliveries_cannot_be_replayed()
    {
        var c = await h.ConnectedOrgAsync("noreplay");
        var deliveryId = Guid.NewGuid().ToString();
        await h.SendWebhookAsync("installation", h.GitHub.Payloads.Installation("suspend", c.Installation), deliveryId);
        var original = await App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        SignInAs(c.OrgId, MemberRole.Owner);

        // The page shows Replay disabled (its tooltip says why).
        var page = RenderPage<DeliveryDetail>((nameof(DeliveryDetail.Id), original.Id));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=replay]")));
        Assert.True(page.Find("[data-testid=replay]").HasAttribute("disabled"));

        // The server refuses it too, and stores nothing.
        var user = new System.Security.Claims.ClaimsPrincipal(new System.Security.Claims.ClaimsIdentity([
            new(SelfTune.Admin.Auth.SelfTuneClaims.OrgId, c.OrgId.ToString()),
            new(SelfTune.Admin.Auth.SelfTuneClaims.ActorId, Guid.NewGuid().ToString()),
            new(SelfTune.Admin.Auth.SelfTuneClaims.Role, MemberRole.Owner.ToString()),
        ], "test"));
        using var scope = App.Services.CreateScope();
        var service = scope.ServiceProvider.GetRequiredService<SelfTune.Admin.GitHub.Webhooks.DeliveryService>();
        var refused = await Assert.ThrowsAsync<SelfTune.Admin.Infrastructure.ProblemException>(() => service.ReplayAsync(user, original.Id));
        Assert.Equal(409, refused.Status);
        Assert.Contains("re-apply old state", refused.Message);
        foreach (var e in new[] { "installation_repositories", "repository" })
        {
            var other = await App.DeliveryAsync(e, c.Installation.Id);
            Assert.Contains("re-apply old state", (await Assert.ThrowsAsync<SelfTune.Admin.Infrastructure.ProblemException>(() => service.ReplayAsync(user, other.Id))).Message);
        }
        Assert.False(await App.WithDbAsync(db => db.Deliveries.AnyAsync(d => d.DeliveryId.Contains(":replay-") && d.InstallationId == c.Installation.Id)));
    }

    [Fact]
    public async Task Replayed_delivery_links_back_to_its_original()
    {
        var c = await h.ConnectedOrgAsync("backlink");
        var original = await App.DeliveryAsync("ping", c.Installation.Id, message: "Ping received.");
        var replay = await App.DeliveryAsync("ping", c.Installation.Id, message: "Ping received.");
        await App.WithDbAsync(async db =>
        {
            db.Deliveries.Single(d => d.Id == replay.Id).DeliveryId = original.DeliveryId + ":replay-1";
            return await db.SaveChangesAsync();
        });
        SignInAs(c.OrgId, MemberRole.Admin);
        var page = RenderPage<DeliveryDetail>((nameof(DeliveryDetail.Id), replay.Id));
        page.WaitForAssertion(() => Assert.Equal($"/deliveries/{original.Id}", page.Find("[data-testid=replay-of]").GetAttribute("href")));
        Assert.Contains("None for your org's connections", page.Find("[data-testid=no-attempts]").TextContent);
    }

    static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + PageSeed.Slow;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition did not hold in time.");
            await Task.Delay(100);
        }
    }
}
