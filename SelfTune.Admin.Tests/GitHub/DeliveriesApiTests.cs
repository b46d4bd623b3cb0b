using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Components;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>Issue 13: <c>/api/v1/github/deliveries</c> lists what the Deliveries page shows, pages and filters it, and replays idempotently.</summary>
public sealed class DeliveriesApiTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    static List<string> DeliveryIds(JsonElement body) =>
        body.GetProperty("deliveries").EnumerateArray().Select(d => d.GetProperty("delivery_id").GetString()!).ToList();

    [Fact]
    public async Task The_list_is_the_orgs_newest_first_paged_by_cursor_and_filtered_by_event_outcome_and_repository()
    {
        var (orgId, key) = await h.App.CreateOrgAsync(Plan.Pro);
        var api = h.App.CreateClient(key);
        var installation = await h.App.InstallationAsync(orgId);
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var pushes = new List<WebhookDelivery>();
        for (var i = 0; i < 5; i++)
            pushes.Add(await h.App.DeliveryAsync("push", installation.InstallationId, PageSeed.NewGitHubId(), i % 2 == 0 ? "acme-gh/even" : "acme-gh/odd", receivedAt: start.AddSeconds(i)));
        var failed = await h.App.DeliveryAsync("create", installation.InstallationId, outcome: DeliveryOutcome.Failed, receivedAt: start.AddSeconds(10));
        await h.App.DeliveryAsync("push", PageSeed.NewGitHubId(), PageSeed.NewGitHubId(), "stranger/secret", receivedAt: start.AddSeconds(11)); // another org's

        var all = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var body = await ExpectJsonAsync(await api.GetAsync("/api/v1/github/deliveries?limit=2" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))), HttpStatusCode.OK);
            all.AddRange(DeliveryIds(body));
            cursor = body.GetProperty("next_cursor").GetString();
            pages++;
        } while (cursor is not null);
        Assert.Equal(3, pages);
        Assert.Equal([failed.DeliveryId, .. pushes.AsEnumerable().Reverse().Select(p => p.DeliveryId)], all);

        Assert.Equal([failed.DeliveryId], DeliveryIds(await ExpectJsonAsync(await api.GetAsync("/api/v1/github/deliveries?outcome=failed"), HttpStatusCode.OK)));
        Assert.Equal([failed.DeliveryId], DeliveryIds(await ExpectJsonAsync(await api.GetAsync("/api/v1/github/deliveries?event=create"), HttpStatusCode.OK)));
        Assert.Equal([pushes[3].DeliveryId, pushes[1].DeliveryId],
            DeliveryIds(await ExpectJsonAsync(await api.GetAsync("/api/v1/github/deliveries?event=push&outcome=processed&repository=acme-gh/odd"), HttpStatusCode.OK)));

        var bad = await GitHubHarness.AssertProblemAsync(await api.GetAsync("/api/v1/github/deliveries?outcome=lost"), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("queued, processed, ignored, failed, rejected", bad.ToJsonString());
        await GitHubHarness.AssertProblemAsync(await api.GetAsync("/api/v1/github/deliveries?cursor=garbage"), HttpStatusCode.BadRequest, "invalid_request");
    }

    [Fact]
    public async Task One_delivery_answers_its_fields_and_another_orgs_is_404()
    {
        var (orgId, key) = await h.App.CreateOrgAsync(Plan.Pro);
        var api = h.App.CreateClient(key);
        var installation = await h.App.InstallationAsync(orgId);
        var mine = await h.App.DeliveryAsync("push", installation.InstallationId, PageSeed.NewGitHubId(), "acme-gh/one", message: "Push to main: 1 attempt(s) queued.");
        var theirs = await h.App.DeliveryAsync("push", PageSeed.NewGitHubId(), PageSeed.NewGitHubId(), "stranger/one");

        var body = await ExpectJsonAsync(await api.GetAsync($"/api/v1/github/deliveries/{mine.Id}"), HttpStatusCode.OK);
        Assert.Equal(mine.DeliveryId, body.GetProperty("delivery_id").GetString());
        Assert.Equal("processed", body.GetProperty("outcome").GetString());
        Assert.Equal("acme-gh/one", body.GetProperty("repository_full_name").GetString());
        Assert.Equal("Push to main: 1 attempt(s) queued.", body.GetProperty("outcome_message").GetString());
        Assert.True(body.GetProperty("replayable").GetBoolean());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("replay_of").ValueKind);

        await GitHubHarness.AssertProblemAsync(await api.GetAsync($"/api/v1/github/deliveries/{theirs.Id}"), HttpStatusCode.NotFound, "not_found");
        await GitHubHarness.AssertProblemAsync(await api.GetAsync("/api/v1/github/deliveries/not-a-guid"), HttpStatusCode.NotFound, "not_found");
        await GitHubHarness.AssertProblemAsync(await api.PostAsync($"/api/v1/github/deliveries/{theirs.Id}/replay", null), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Replaying_a_published_delivery_through_the_api_publishes_nothing_new_and_its_attempt_is_unchanged()
    {
        var c = await h.ConnectRepoAsync(h.Api, "api-replayed");
        var deliveryId = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        Assert.Equal(AttemptStatus.Published, Assert.Single(await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1)).Status);
        var original = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        var versions = await h.App.WithDbAsync(db => db.Versions.CountAsync());

        using var response = await h.Api.PostAsync($"/api/v1/github/deliveries/{original.Id}/replay", null);
        var replay = await ExpectJsonAsync(response, HttpStatusCode.Accepted);
        Assert.Equal(deliveryId + ":replay-1", replay.GetProperty("delivery_id").GetString());
        Assert.Equal(deliveryId, replay.GetProperty("replay_of").GetString());
        Assert.EndsWith($"/api/v1/github/deliveries/{replay.GetProperty("id").GetString()}", response.Headers.Location!.ToString());

        Assert.Equal(DeliveryOutcome.Processed, (await h.WaitForDeliveryAsync(deliveryId + ":replay-1")).Outcome);
        var attempts = await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 2);
        Assert.Equal(AttemptStatus.Unchanged, attempts[0].Status);
        Assert.Equal(versions, await h.App.WithDbAsync(db => db.Versions.CountAsync()));

        var detail = await ExpectJsonAsync(await h.Api.GetAsync(response.Headers.Location), HttpStatusCode.OK);
        Assert.Equal("processed", detail.GetProperty("outcome").GetString());
        Assert.Equal("unchanged", Assert.Single(detail.GetProperty("attempts").EnumerateArray()).GetProperty("status").GetString());
        var originalDetail = await ExpectJsonAsync(await h.Api.GetAsync($"/api/v1/github/deliveries/{original.Id}"), HttpStatusCode.OK);
        Assert.Equal([deliveryId + ":replay-1"], originalDetail.GetProperty("replays").EnumerateArray().Select(r => r.GetProperty("delivery_id").GetString()).ToList());

        // A ping (or any event a replay would not act on) is refused with the page's words.
        var ping = await h.App.DeliveryAsync("ping", c.Installation.Id);
        var refused = await GitHubHarness.AssertProblemAsync(await h.Api.PostAsync($"/api/v1/github/deliveries/{ping.Id}/replay", null), HttpStatusCode.Conflict, "conflict");
        Assert.Contains("only push, create and pull_request deliveries can be replayed", refused["detail"]!.GetValue<string>());
    }
}
