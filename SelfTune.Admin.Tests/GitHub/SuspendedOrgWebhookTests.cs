using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>Issue 10: a suspended org's GitHub deliveries are recorded and ignored; lifting the suspension lets them publish again.</summary>
public sealed class SuspendedOrgWebhookTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    Task SetSuspendedAsync(Guid orgId, bool suspended) => h.App.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId)
        .ExecuteUpdateAsync(o => o.SetProperty(x => x.SuspendedAt, suspended ? DateTimeOffset.UtcNow : (DateTimeOffset?)null)
            .SetProperty(x => x.SuspendedReason, suspended ? "Abuse report" : (string?)null)));

    [Fact]
    public async Task A_push_to_a_suspended_orgs_connected_repository_is_recorded_and_publishes_nothing()
    {
        var (orgId, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var c = await h.ConnectRepoAsync(api, "suspended-push");
        await SetSuspendedAsync(orgId, true);

        var delivery = await h.WaitForDeliveryAsync(await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha));

        Assert.Equal(DeliveryOutcome.Processed, delivery.Outcome);
        Assert.Contains("no connection follows this branch", delivery.OutcomeMessage);
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
        Assert.Empty(await GitHubHarness.VersionsAsync(api, c.EntryId));

        await SetSuspendedAsync(orgId, false);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.True(attempt.Status == AttemptStatus.Published, attempt.Message);
    }
}
