using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// SPEC section 8: GitHub sends no push event when more than three tags are pushed at once; the reconciliation sweep
/// publishes what the webhooks missed, and only that.
/// </summary>
public sealed class ReconciliationTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task Reconcile_publishes_tags_pushed_without_webhooks_once()
    {
        // An org of its own: reconcile works on all of the caller's org's connections.
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var c = await h.ConnectRepoAsync(api, "reconciled");
        var manual = await h.ConnectRepoAsync(api, "reconcile-manual", new { auto_publish = false }, installation: c.Installation);

        // The head was published through its webhook.
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        Assert.Equal(AttemptStatus.Published, (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0].Status);

        // Four tags at once on other commits: GitHub sends nothing.
        var tags = new[] { "v1.0.0", "v1.1.0", "v1.2.0", "v2.0.0" };
        foreach (var tag in tags)
            h.GitHub.PushTag(c.Repo, tag, h.GitHub.PushCommit(c.Repo, "release-work", GitHubHarness.Skill("reconciled", extra: tag)));
        h.GitHub.PushTag(c.Repo, "not-a-release", c.Sha);

        var response = await api.PostAsync("/api/v1/github/reconcile", null);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonObject>())!["queued"]!.GetValue<int>());
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        var reconciled = (await h.AttemptsAsync(c.ConnectionId)).Where(a => a.Trigger == AttemptTrigger.Reconcile).ToList();
        Assert.Equal(4, reconciled.Count);
        Assert.All(reconciled, a => Assert.True(a.Status == AttemptStatus.Published, $"{a.SourceRef}: {a.Status} {a.Message}"));
        Assert.Equal(tags, reconciled.Select(a => a.SourceRef!).Order(StringComparer.Ordinal).ToArray());

        var versions = await GitHubHarness.VersionsAsync(api, c.EntryId);
        foreach (var tag in tags)
        {
            var version = versions.Single(v => v["version"]!.GetValue<string>() == tag[1..]);
            Assert.Equal(tag, version["source_ref"]!.GetValue<string>());
            Assert.Equal("github", version["source"]!.GetValue<string>());
        }
        Assert.Equal(5, versions.Count); // the four releases and the head's prerelease

        // A second sweep finds nothing missing and records nothing.
        var attemptsBefore = (await h.AttemptsAsync(c.ConnectionId)).Count;
        var again = await api.PostAsync("/api/v1/github/reconcile", null);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        Assert.Equal(attemptsBefore, (await h.AttemptsAsync(c.ConnectionId)).Count);
        Assert.Equal(5, (await GitHubHarness.VersionsAsync(api, c.EntryId)).Count);

        // The connection with auto-publish off is left to its owner.
        Assert.Empty(await h.AttemptsAsync(manual.ConnectionId));
        Assert.Empty(await GitHubHarness.VersionsAsync(api, manual.EntryId));
    }

    [Fact]
    public async Task Reconcile_does_not_retry_a_failure_until_something_changes()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var files = GitHubHarness.Skill("leaky");
        files["keys/id_rsa"] = "-----BEGIN OPENSSH PRIVATE KEY-----"u8.ToArray();
        var c = await h.ConnectRepoAsync(api, "leaky", files: files);

        // First sweep: the head fails (a secret file), with the reason.
        Assert.Equal(HttpStatusCode.Accepted, (await api.PostAsync("/api/v1/github/reconcile", null)).StatusCode);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        var first = Assert.Single(await h.AttemptsAsync(c.ConnectionId));
        Assert.Equal(AttemptStatus.Failed, first.Status);
        Assert.Contains("id_rsa", first.Message);

        // Second sweep: the same head would fail the same way, so nothing new is recorded (nor posted to GitHub).
        var checkRuns = h.GitHub.CheckRuns.Count;
        Assert.Equal(HttpStatusCode.Accepted, (await api.PostAsync("/api/v1/github/reconcile", null)).StatusCode);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        Assert.Single(await h.AttemptsAsync(c.ConnectionId));
        Assert.Equal(checkRuns, h.GitHub.CheckRuns.Count);

        // A fixed commit is new work: the next sweep publishes it.
        var fixedSha = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("leaky"));
        Assert.Equal(HttpStatusCode.Accepted, (await api.PostAsync("/api/v1/github/reconcile", null)).StatusCode);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        var latest = (await h.AttemptsAsync(c.ConnectionId)).First(a => a.SourceRef == fixedSha);
        Assert.Equal(AttemptStatus.Published, latest.Status);
    }
}
