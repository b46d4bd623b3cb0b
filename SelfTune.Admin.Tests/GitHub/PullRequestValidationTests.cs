using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Fakes;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>SPEC section 9: in <c>checks_and_prs</c> the skill at a pull request's head is validated, never published.</summary>
public sealed class PullRequestValidationTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    async Task SetModeAsync(string mode)
    {
        var response = await h.Api.PostAsJsonAsync("/api/v1/github/settings", new { write_back_mode = mode });
        Assert.Equal(mode, (await response.Content.ReadFromJsonAsync<JsonObject>())!["write_back_mode"]!.GetValue<string>());
    }

    /// <summary>The real pull_request payload, pointed at the fake's repository, branches and installation.</summary>
    static string PullRequestPayload(string action, GitHubHarness.Connected c, int number, string headBranch)
    {
        var payload = GitHubHarness.SharedPayload($"pull_request/{action}.payload.json");
        payload["number"] = number;
        var pr = payload["pull_request"]!;
        pr["number"] = number;
        pr["head"]!["ref"] = headBranch;
        pr["head"]!["sha"] = c.Repo.Branches[headBranch];
        pr["base"]!["ref"] = c.Repo.DefaultBranch;
        pr["base"]!["sha"] = c.Repo.Branches[c.Repo.DefaultBranch];
        GitHubHarness.AdaptRepository(pr["head"]!["repo"]!, c.Repo);
        GitHubHarness.AdaptRepository(pr["base"]!["repo"]!, c.Repo);
        GitHubHarness.AdaptRepository(payload["repository"]!, c.Repo);
        GitHubHarness.AdaptInstallation(payload, c.Installation);
        return payload.ToJsonString();
    }

    [Fact]
    public async Task In_checks_and_prs_a_valid_pull_request_gets_a_successful_check_run_and_no_version()
    {
        await SetModeAsync("checks_and_prs");
        var c = await h.ConnectRepoAsync(h.Api, "pr-valid", new { write_back_enabled = true });
        var head = h.GitHub.PushCommit(c.Repo, "feature", GitHubHarness.Skill("pr-valid", extra: "proposed change"));

        var delivery = await h.SendAsync("pull_request", PullRequestPayload("opened", c, 7, "feature"));
        await h.WaitForDeliveryAsync(delivery);
        var attempt = Assert.Single(await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1));
        Assert.Equal(AttemptTrigger.PullRequest, attempt.Trigger);
        Assert.Equal(head, attempt.SourceRef);
        Assert.Null(attempt.Version);
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);

        var run = Assert.Single(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id && r.HeadSha == head);
        Assert.Equal("completed", run.Status);
        Assert.Equal("success", run.Conclusion);
        Assert.Equal("SelfTune publish: pr-valid", run.Name);
        Assert.Equal(attempt.CheckRunId, run.Id.ToString());
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
    }

    [Fact]
    public async Task A_pull_request_adding_a_private_key_fails_its_check_naming_the_file()
    {
        await SetModeAsync("checks_and_prs");
        var c = await h.ConnectRepoAsync(h.Api, "pr-secret", new { write_back_enabled = true });
        var files = GitHubHarness.Skill("pr-secret");
        files["id_rsa"] = Encoding.UTF8.GetBytes("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
        var head = h.GitHub.PushCommit(c.Repo, "leaky", files);

        await h.WaitForDeliveryAsync(await h.SendAsync("pull_request", PullRequestPayload("opened", c, 8, "leaky")));
        var attempt = Assert.Single(await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1));
        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        Assert.Contains("id_rsa", attempt.Message);

        var run = Assert.Single(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id && r.HeadSha == head);
        Assert.Equal("failure", run.Conclusion);
        Assert.Contains("id_rsa", run.Summary + run.Title);
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
    }

    [Fact]
    public async Task In_checks_mode_pull_requests_are_ignored()
    {
        await SetModeAsync("checks");
        var c = await h.ConnectRepoAsync(h.Api, "pr-ignored", new { write_back_enabled = true });
        var head = h.GitHub.PushCommit(c.Repo, "topic", GitHubHarness.Skill("pr-ignored", extra: "x"));

        var row = await h.WaitForDeliveryAsync(await h.SendAsync("pull_request", PullRequestPayload("opened", c, 9, "topic")));
        Assert.Equal(DeliveryOutcome.Processed, row.Outcome);
        Assert.Contains("checks_and_prs", row.OutcomeMessage);
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.HeadSha == head);
    }

    [Fact]
    public async Task Closing_a_pull_request_validates_nothing()
    {
        await SetModeAsync("checks_and_prs");
        var c = await h.ConnectRepoAsync(h.Api, "pr-closed", new { write_back_enabled = true });
        h.GitHub.PushCommit(c.Repo, "done", GitHubHarness.Skill("pr-closed", extra: "y"));
        var row = await h.WaitForDeliveryAsync(await h.SendAsync("pull_request", PullRequestPayload("closed", c, 10, "done")));
        Assert.Equal(DeliveryOutcome.Processed, row.Outcome);
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
    }
}
