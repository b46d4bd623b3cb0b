using System.Net;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Jobs;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Signed payloads GitHub would never send, but a bug or a leaked secret could: none is answered 500, and one that cannot
/// be processed fails once, with a message that names what is wrong, instead of being retried as if transient.
/// </summary>
public sealed class WebhookHostileInputTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    /// <summary>A real push to main (the shared sample deletes a tag, which would need no repository at all).</summary>
    static JsonObject Push()
    {
        var payload = GitHubHarness.SharedPayload("push/with-installation.payload.json");
        payload["ref"] = "refs/heads/main";
        payload["after"] = "1111111111111111111111111111111111111111";
        payload["deleted"] = false;
        return payload;
    }

    [Fact]
    public async Task A_repository_id_that_is_not_a_number_is_never_a_500_and_fails_once_naming_the_field()
    {
        var payload = Push();
        payload["repository"]!["id"] = "abc";
        var deliveryId = Guid.NewGuid().ToString();

        using var response = await h.SendWebhookAsync("push", payload.ToJsonString(), deliveryId);

        Assert.True(response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.BadRequest,
            $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        if (response.StatusCode == HttpStatusCode.BadRequest) return; // refused at the door: nothing stored, nothing to fail

        var (job, delivery) = await WaitForWebhookJobAsync(deliveryId);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(1, job.Attempts);
        Assert.Equal(DeliveryOutcome.Failed, delivery.Outcome);
        Assert.Contains("'repository.id' must be a whole number", delivery.OutcomeMessage);
        Assert.DoesNotContain("System.", delivery.OutcomeMessage);
    }

    [Fact]
    public async Task A_push_without_a_repository_fails_once_naming_what_is_missing()
    {
        var payload = Push();
        payload.Remove("repository");
        var deliveryId = await h.SendAsync("push", payload.ToJsonString());

        var (job, delivery) = await WaitForWebhookJobAsync(deliveryId);

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(1, job.Attempts); // not retried as if the database had been busy
        Assert.Equal(DeliveryOutcome.Failed, delivery.Outcome);
        Assert.Equal("The push payload has no repository.id.", delivery.OutcomeMessage);
        Assert.Equal(delivery.OutcomeMessage, job.LastError);
    }

    [Fact]
    public async Task A_push_whose_after_is_not_a_commit_sha_fails_once_naming_the_field_and_publishes_nothing()
    {
        var c = await h.ConnectRepoAsync(h.Api, "hostile-after");
        var payload = JsonNode.Parse(h.GitHub.Payloads.Push(c.Repo, "main"))!.AsObject();
        payload["after"] = "../../../../user"; // would be a path in the tarball URL
        var requestsBefore = h.GitHub.CountRequests("/user");

        var (job, delivery) = await WaitForWebhookJobAsync(await h.SendAsync("push", payload.ToJsonString()));

        Assert.Equal((JobState.Failed, 1), (job.State, job.Attempts));
        Assert.Equal(DeliveryOutcome.Failed, delivery.Outcome);
        Assert.Equal("The push payload's after is not a commit SHA (40 hex digits).", delivery.OutcomeMessage);
        Assert.Equal(0, await h.App.WithDbAsync(db => db.Attempts.CountAsync(a => a.ConnectionId == c.ConnectionId)));
        Assert.Equal(requestsBefore, h.GitHub.CountRequests("/user"));
    }

    [Fact]
    public async Task Large_bodies_beyond_the_concurrent_limit_are_answered_503_with_retry_after_and_small_ones_still_pass()
    {
        var gate = h.App.Services.GetRequiredService<WebhookBodyGate>();
        var held = Enumerable.Range(0, WebhookBodyGate.LargeBodySlots).Select(_ => gate.TryEnter(null)).ToList();
        Assert.All(held, Assert.NotNull); // every slot taken, as by that many large bodies still arriving
        var large = Ping();
        large["padding"] = new string('x', (int)WebhookBodyGate.LargeBodyBytes * 2);
        var deliveryId = Guid.NewGuid().ToString();
        try
        {
            using (var busy = await h.SendWebhookAsync("ping", large.ToJsonString(), deliveryId))
            {
                await GitHubHarness.AssertProblemAsync(busy, HttpStatusCode.ServiceUnavailable, "busy");
                Assert.NotNull(busy.Headers.RetryAfter?.Delta);
            }
            Assert.False(await h.App.WithDbAsync(db => db.Deliveries.AnyAsync(d => d.DeliveryId == deliveryId)));
            await h.SendAsync("ping", Ping().ToJsonString()); // a small body needs no slot
        }
        finally
        {
            foreach (var slot in held) slot!.Dispose();
        }

        using var accepted = await h.SendWebhookAsync("ping", large.ToJsonString(), deliveryId); // GitHub's redelivery, once there is room
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
    }

    JsonObject Ping()
    {
        var ping = GitHubHarness.SharedPayload("ping/with-app_id.payload.json");
        ping["hook"]!["app_id"] = h.GitHub.AppId;
        return ping;
    }

    /// <summary>Waits for the delivery's github.webhook job to end, however it ends (WaitForDeliveryAsync insists on success).</summary>
    async Task<(Job Job, WebhookDelivery Delivery)> WaitForWebhookJobAsync(string deliveryId)
    {
        var rowId = (await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId))).Id.ToString();
        var job = await h.App.WithDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.Kind == PublishJobs.Webhook && j.Payload.Contains(rowId)));
        var done = await h.App.Services.GetRequiredService<JobQueue>().WaitForCompletionAsync(job.Id, TimeSpan.FromSeconds(30));
        var delivery = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        return (done, delivery);
    }
}
