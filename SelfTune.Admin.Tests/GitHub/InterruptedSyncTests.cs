using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>A sync killed mid-publish leaves an open attempt; the next sync of that connection closes it with the reason.</summary>
public sealed class InterruptedSyncTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task Next_sync_closes_an_attempt_left_running_by_a_killed_run()
    {
        var c = await h.ConnectRepoAsync(h.Api, "interrupted");
        var stale = await h.App.WithDbAsync(async db =>
        {
            var orgId = db.Connections.Single(x => x.Id == c.ConnectionId).OrgId;
            var attempt = new PublishAttempt
            {
                OrgId = orgId, ConnectionId = c.ConnectionId, Trigger = AttemptTrigger.Manual, Status = AttemptStatus.Running,
                SourceRef = c.Sha, CommitSha = c.Sha, CreatedAt = DateTimeOffset.UtcNow.AddMinutes(-5), StartedAt = DateTimeOffset.UtcNow.AddMinutes(-5),
            };
            db.Attempts.Add(attempt);
            await db.SaveChangesAsync();
            return attempt.Id;
        });

        var sync = await h.Api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null);
        Assert.Equal(HttpStatusCode.OK, sync.StatusCode);
        Assert.Equal("published", (await sync.Content.ReadFromJsonAsync<JsonObject>())!["status"]!.GetValue<string>());

        var closed = await h.App.WithDbAsync(db => Task.FromResult(db.Attempts.Single(a => a.Id == stale)));
        Assert.Equal(AttemptStatus.Failed, closed.Status);
        Assert.StartsWith("Interrupted", closed.Message);
        Assert.NotNull(closed.FinishedAt);
    }
}
