using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>SPEC section 8: the receiver checks the signature first, stores each delivery once and answers before working.</summary>
public sealed class WebhookReceiverTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    Uri WebhookUrl => new(h.Api.BaseAddress!, "/api/v1/github/webhook");

    // Refused deliveries are recorded as rejected, without a body or job (RejectedDeliveryTests): they are not "stored" as deliveries.
    Task<int> DeliveryCountAsync() => h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.Outcome != DeliveryOutcome.Rejected));

    [Fact]
    public async Task A_wrong_or_missing_signature_is_401_and_nothing_is_stored()
    {
        var c = await h.ConnectRepoAsync(h.Api, "signed-only");
        var payload = GitHubHarness.AdaptPush(GitHubHarness.SharedPayload("push/with-installation.payload.json"), c.Repo, c.Installation, "refs/heads/main", c.Sha);
        var before = await DeliveryCountAsync();
        var jobsBefore = await h.App.WithDbAsync(db => db.Jobs.CountAsync());

        // Signed with another secret.
        using (var wrong = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", payload))
        {
            wrong.Headers.Remove("X-Hub-Signature-256");
            wrong.Headers.Add("X-Hub-Signature-256", "sha256=" + Convert.ToHexStringLower(
                System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes("not-the-secret"), Encoding.UTF8.GetBytes(payload))));
            await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(wrong), HttpStatusCode.Unauthorized, "invalid_signature");
        }
        // Right signature, body changed after signing.
        using (var tampered = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", payload))
        {
            tampered.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(payload.Replace("refs/heads/main", "refs/heads/evil")));
            await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(tampered), HttpStatusCode.Unauthorized, "invalid_signature");
        }
        // No signature at all, and only the old SHA-1 one.
        using (var unsigned = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", payload))
        {
            unsigned.Headers.Remove("X-Hub-Signature-256");
            await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(unsigned), HttpStatusCode.Unauthorized, "invalid_signature");
        }
        // Not hex.
        using (var garbage = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", payload))
        {
            garbage.Headers.Remove("X-Hub-Signature-256");
            garbage.Headers.Add("X-Hub-Signature-256", "sha256=zz");
            await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(garbage), HttpStatusCode.Unauthorized, "invalid_signature");
        }

        Assert.Equal(before, await DeliveryCountAsync());
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
        Assert.Equal(jobsBefore, await h.App.WithDbAsync(db => db.Jobs.CountAsync()));
    }

    [Fact]
    public async Task A_redelivered_delivery_id_is_answered_200_and_processed_once()
    {
        var c = await h.ConnectRepoAsync(h.Api, "redelivered");
        var payload = GitHubHarness.AdaptPush(GitHubHarness.SharedPayload("push/with-installation.payload.json"), c.Repo, c.Installation, "refs/heads/main", c.Sha);
        var deliveryId = Guid.NewGuid().ToString();

        using var first = await h.SendWebhookAsync("push", payload, deliveryId);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var processed = await h.WaitForDeliveryAsync(deliveryId);
        Assert.Equal(DeliveryOutcome.Processed, processed.Outcome);
        await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);

        using var again = await h.SendWebhookAsync("push", payload, deliveryId);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("duplicate", (await again.Content.ReadFromJsonAsync<JsonObject>())!["status"]!.GetValue<string>());

        Assert.Equal(1, await h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.DeliveryId == deliveryId)));
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        var attempt = Assert.Single(await h.AttemptsAsync(c.ConnectionId));
        Assert.Equal(deliveryId, attempt.DeliveryId);
        Assert.Equal(AttemptStatus.Published, attempt.Status);
        Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
    }

    [Fact]
    public async Task An_event_the_product_does_not_handle_is_stored_as_ignored_with_202()
    {
        var payload = new JsonObject { ["action"] = "opened", ["issue"] = new JsonObject { ["number"] = 1 }, ["installation"] = new JsonObject { ["id"] = 1 } }.ToJsonString();
        var deliveryId = await h.SendAsync("issues", payload, HttpStatusCode.Accepted);
        var row = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        Assert.Equal(DeliveryOutcome.Ignored, row.Outcome);
        Assert.Equal("issues", row.Event);
        Assert.Equal("opened", row.Action);
        Assert.Contains("issues", row.OutcomeMessage);
        Assert.Empty(row.Payload); // headers and outcome are kept, not a body nothing will read
        Assert.Equal(0, await h.App.WithDbAsync(db => db.Jobs.CountAsync(j => j.Payload.Contains(row.Id.ToString()))));
    }

    [Fact]
    public async Task Ping_is_accepted_and_processed()
    {
        var payload = GitHubHarness.SharedPayload("ping/with-app_id.payload.json");
        payload["hook"]!["app_id"] = h.GitHub.AppId;
        var deliveryId = await h.SendAsync("ping", payload.ToJsonString(), HttpStatusCode.Accepted);
        var row = await h.WaitForDeliveryAsync(deliveryId);
        Assert.Equal(DeliveryOutcome.Processed, row.Outcome);
        Assert.Equal("Ping received.", row.OutcomeMessage);
    }

    [Fact]
    public async Task Missing_event_or_delivery_headers_and_unreadable_bodies_are_400_and_not_stored()
    {
        var before = await DeliveryCountAsync();
        using (var noEvent = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", "{}"))
        {
            noEvent.Headers.Remove("X-GitHub-Event");
            await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(noEvent), HttpStatusCode.BadRequest, "invalid_request");
        }
        using (var notJson = h.GitHub.CreateWebhookRequest(WebhookUrl, "push", "{not json"))
            await GitHubHarness.AssertProblemAsync(await h.Api.SendAsync(notJson), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal(before, await DeliveryCountAsync());
    }
}
