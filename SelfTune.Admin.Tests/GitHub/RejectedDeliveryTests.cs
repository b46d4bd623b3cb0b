using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Webhooks;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>Issue 13: a delivery refused for its signature is visible (recorded without its body, with its reason), and inert.</summary>
public sealed class RejectedDeliveryTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    Uri WebhookUrl => new(h.Api.BaseAddress!, "/api/v1/github/webhook");

    /// <summary>Rejected rows whose kept GUID starts with <paramref name="sentId"/>.</summary>
    Task<List<WebhookDelivery>> RejectedOfAsync(string sentId) => h.App.WithDbAsync(db =>
        db.Deliveries.AsNoTracking().Where(d => d.Outcome == DeliveryOutcome.Rejected && d.DeliveryId.StartsWith("rejected:" + sentId)).ToListAsync());

    [Fact]
    public async Task A_bad_signature_delivery_is_recorded_as_rejected_with_its_reason_and_never_processed_nor_blocks_the_real_one()
    {
        var c = await h.ConnectRepoAsync(h.Api, "rejected-then-real");
        var payload = GitHubHarness.AdaptPush(GitHubHarness.SharedPayload("push/with-installation.payload.json"), c.Repo, c.Installation, "refs/heads/main", c.Sha);
        var deliveryId = Guid.NewGuid().ToString();

        using (var wrong = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", payload, deliveryId))
        {
            wrong.Headers.Remove("X-Hub-Signature-256");
            wrong.Headers.Add("X-Hub-Signature-256", "sha256=" + Convert.ToHexStringLower(
                System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes("an-old-secret"), Encoding.UTF8.GetBytes(payload))));
            await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(wrong), HttpStatusCode.Unauthorized, "invalid_signature");
        }
        var rejected = Assert.Single(await RejectedOfAsync(deliveryId));
        Assert.Equal("push", rejected.Event);
        Assert.Equal("", rejected.Payload);
        Assert.StartsWith("mismatch: signature mismatch", rejected.OutcomeMessage);
        Assert.Contains($"X-GitHub-Delivery {deliveryId}", rejected.OutcomeMessage);
        Assert.Null(rejected.InstallationId);
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
        Assert.False(await h.App.WithDbAsync(db => db.Jobs.AnyAsync(j => j.Payload.Contains(rejected.Id.ToString()))));

        // The org never lists it (it carries no org), even asked for rejected ones; the API cannot replay it.
        using var list = await h.Api.GetAsync("/api/v1/github/deliveries?outcome=rejected");
        Assert.Equal(0, JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.GetProperty("deliveries").GetArrayLength());
        using var replay = await h.Api.PostAsync($"/api/v1/github/deliveries/{rejected.Id}/replay", null);
        Assert.Equal(HttpStatusCode.NotFound, replay.StatusCode);

        // GitHub's redelivery with the right secret and the same GUID is accepted and publishes once.
        using var real = await h.SendWebhookAsync("push", payload, deliveryId);
        Assert.Equal(HttpStatusCode.Accepted, real.StatusCode);
        Assert.Equal(DeliveryOutcome.Processed, (await h.WaitForDeliveryAsync(deliveryId)).Outcome);
        Assert.Equal(AttemptStatus.Published, Assert.Single(await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1)).Status);
    }

    [Fact]
    public async Task A_missing_signature_is_recorded_as_missing_with_its_headers_bounded()
    {
        var sentId = "x" + Guid.NewGuid().ToString("N");
        using var unsigned = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", "{}", sentId + new string('y', 500));
        unsigned.Headers.Remove("X-Hub-Signature-256");
        unsigned.Headers.Remove("X-GitHub-Event");
        unsigned.Headers.Add("X-GitHub-Event", new string('e', 300));
        await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(unsigned), HttpStatusCode.Unauthorized, "invalid_signature");

        var rejected = Assert.Single(await RejectedOfAsync(sentId));
        Assert.StartsWith("missing: no signature", rejected.OutcomeMessage);
        Assert.Equal(RejectedDeliveries.MaxHeaderChars, rejected.Event.Length);
        Assert.StartsWith($"rejected:{(sentId + new string('y', 500))[..RejectedDeliveries.MaxHeaderChars]}:", rejected.DeliveryId);
        Assert.True(rejected.DeliveryId.Length < 120, rejected.DeliveryId);
    }

    [Fact]
    public async Task A_flood_stores_a_bounded_number_of_rows_per_address_and_in_all()
    {
        // A recorder of its own, so the bound's windows start empty whatever else this app received.
        var recorder = new RejectedDeliveries(h.App.Services.GetRequiredService<IDbContextFactory<AdminDbContext>>(), TimeProvider.System);
        var eventName = "flood-" + Guid.NewGuid().ToString("N")[..8];
        var one = IPAddress.Parse("203.0.113.7");
        var stored = 0;
        for (var i = 0; i < 3 * RejectedDeliveries.StoredPerAddressPerMinute; i++)
            if (await recorder.RecordAsync(RejectedDeliveries.Reason.Mismatch, one, eventName, Guid.NewGuid().ToString())) stored++;
        Assert.Equal(RejectedDeliveries.StoredPerAddressPerMinute, stored);

        // Many addresses (cheap with IPv6) still stop at the overall bound.
        for (var i = 0; i < 2 * RejectedDeliveries.StoredPerMinute; i++)
            await recorder.RecordAsync(RejectedDeliveries.Reason.Mismatch, IPAddress.Parse($"2001:db8::{i + 1:x}"), eventName, null);
        Assert.Equal(RejectedDeliveries.StoredPerMinute, await h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.Event == eventName)));
    }
}
