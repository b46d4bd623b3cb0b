using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Fakes;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// SPEC sections 3 and 8: GitHub failing in the ways it does. Every case ends in exactly one published version or in a
/// failed attempt whose message says what GitHub answered — never in a duplicate version. Each fault is scoped to the
/// test's own repository path.
/// </summary>
public sealed class GitHubFaultTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    async Task<PublishAttempt> PushAndWaitAsync(GitHubHarness.Connected c)
    {
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = Assert.Single(await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1));
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        return attempt;
    }

    async Task AssertPublishedOnceAsync(GitHubHarness.Connected c, PublishAttempt attempt)
    {
        Assert.True(attempt.Status == AttemptStatus.Published, $"{attempt.Status}: {attempt.Message}");
        var version = Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        Assert.Equal($"0.0.0-github.{c.Sha[..7]}", version["version"]!.GetValue<string>());
        Assert.Single(await h.AttemptsAsync(c.ConnectionId));
    }

    string Tarball(GitHubHarness.Connected c) => $"/repos/{c.Repo.FullName}/tarball";

    [Fact]
    public async Task A_server_error_on_the_tarball_is_retried()
    {
        var c = await h.ConnectRepoAsync(h.Api, "fault-5xx-once");
        var fault = h.GitHub.InjectFault(Fault.ServerError(Tarball(c)));
        var attempt = await PushAndWaitAsync(c);
        Assert.Equal(0, fault.Remaining);
        await AssertPublishedOnceAsync(c, attempt);
    }

    [Fact]
    public async Task A_secondary_rate_limit_on_branches_is_waited_out()
    {
        var c = await h.ConnectRepoAsync(h.Api, "fault-secondary");
        var fault = h.GitHub.InjectFault(Fault.SecondaryRateLimit($"/repos/{c.Repo.FullName}/branches", retryAfterSeconds: 1));
        var sync = await h.Api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null);
        Assert.Equal(HttpStatusCode.OK, sync.StatusCode);
        Assert.Equal("published", (await sync.Content.ReadFromJsonAsync<JsonObject>())!["status"]!.GetValue<string>());
        Assert.Equal(0, fault.Remaining);
        await AssertPublishedOnceAsync(c, (await h.AttemptsAsync(c.ConnectionId)).Single());
    }

    [Fact]
    public async Task A_primary_rate_limit_with_a_near_reset_is_waited_out()
    {
        var c = await h.ConnectRepoAsync(h.Api, "fault-primary");
        var fault = h.GitHub.InjectFault(Fault.PrimaryRateLimit(Tarball(c), resetInSeconds: 1));
        var attempt = await PushAndWaitAsync(c);
        Assert.Equal(0, fault.Remaining);
        await AssertPublishedOnceAsync(c, attempt);
    }

    [Fact]
    public async Task A_request_slower_than_the_attempt_timeout_is_retried()
    {
        var c = await h.ConnectRepoAsync(h.Api, "fault-slow");
        // The harness sets GitHub:AttemptTimeout to 3 s.
        var fault = h.GitHub.InjectFault(Fault.Timeout(Tarball(c), TimeSpan.FromSeconds(5)));
        var attempt = await PushAndWaitAsync(c);
        Assert.Equal(0, fault.Remaining);
        await AssertPublishedOnceAsync(c, attempt);
        Assert.Contains(h.GitHub.RequestLog, r => r.Path.Contains(Tarball(c)) && r.StatusCode == 499);
    }

    [Fact]
    public async Task A_truncated_tarball_is_fetched_again()
    {
        var c = await h.ConnectRepoAsync(h.Api, "fault-truncated");
        var fault = h.GitHub.InjectFault(Fault.TruncatedTarball(c.Repo.Name));
        var attempt = await PushAndWaitAsync(c);
        Assert.Equal(0, fault.Remaining);
        await AssertPublishedOnceAsync(c, attempt);
    }

    [Fact]
    public async Task A_tarball_that_always_fails_ends_in_a_failed_attempt_naming_GitHubs_answer()
    {
        var c = await h.ConnectRepoAsync(h.Api, "fault-5xx-forever");
        var fault = h.GitHub.InjectFault(Fault.ServerError(Tarball(c), times: 100, statusCode: 502));
        var attempt = await PushAndWaitAsync(c);
        h.GitHub.ClearFaults();

        Assert.True(fault.Remaining < 100);
        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        Assert.Contains(c.Repo.FullName, attempt.Message);
        Assert.Contains("GitHub answered 502", attempt.Message);
        Assert.NotNull(attempt.FinishedAt);
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));

        // GitHub recovered: the next push publishes, once.
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempts = await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 2);
        Assert.Equal(AttemptStatus.Published, attempts[0].Status);
        Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
    }
}
