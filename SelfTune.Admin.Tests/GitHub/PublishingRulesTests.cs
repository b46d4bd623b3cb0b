using Microsoft.EntityFrameworkCore;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Fakes;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>SPEC sections 7 and 9: auto-publish, immutable release versions, and how results are written back to GitHub.</summary>
public sealed class PublishingRulesTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    async Task<JsonObject> LatestAttemptJsonAsync(HttpClient api, Guid connectionId) =>
        (await api.GetFromJsonAsync<JsonObject>($"/api/v1/github/connections/{connectionId}/attempts"))!["attempts"]![0]!.AsObject();

    [Fact]
    public async Task With_auto_publish_off_webhooks_are_skipped_and_sync_still_publishes()
    {
        var c = await h.ConnectRepoAsync(h.Api, "manual-only", new { auto_publish = false });
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.Equal(AttemptStatus.Skipped, attempt.Status);
        Assert.Contains("auto-publish is off", attempt.Message);

        h.GitHub.PushTag(c.Repo, "v1.0.0", c.Sha);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1.0.0", c.Sha);
        attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 2))[0];
        Assert.Equal(AttemptStatus.Skipped, attempt.Status);
        Assert.Equal(AttemptTrigger.Tag, attempt.Trigger);
        Assert.Contains("auto-publish is off", attempt.Message);
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));

        var sync = await h.Api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null);
        Assert.Equal(HttpStatusCode.OK, sync.StatusCode);
        var answer = (await sync.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("published", answer["status"]!.GetValue<string>());
        Assert.Equal("1.0.0", answer["version"]!.GetValue<string>());
        Assert.Equal("v1.0.0", answer["source_ref"]!.GetValue<string>());
        var versions = (await GitHubHarness.VersionsAsync(h.Api, c.EntryId)).Select(v => v["version"]!.GetValue<string>()).ToList();
        Assert.Equal(["1.0.0", $"0.0.0-github.{c.Sha[..7]}"], versions.Order(StringComparer.Ordinal).Reverse().ToList());
    }

    [Fact]
    public async Task A_commit_whose_sha7_is_digits_with_a_leading_zero_publishes_and_the_entry_keeps_publishing()
    {
        var c = await h.ConnectRepoAsync(h.Api, "leading-zero-sha");
        // Not strict SemVer as 0.0.0-github.0123456 (issue 8): it used to throw, retry 5 times and hold up the queue.
        const string sha = "0123456789abcdef0123456789abcdef01234567";
        h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("leading-zero-sha", extra: "zero"), sha: sha);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.True(attempt.Status == AttemptStatus.Published, attempt.Message);
        Assert.Equal("0.0.0-github.0123456", attempt.Version);
        var job = await h.App.WithDbAsync(db => Task.FromResult(db.Jobs.AsEnumerable().Single(j => j.Payload.Contains(attempt.Id.ToString()))));
        Assert.Equal(1, job.Attempts); // published on the first try, no retry

        // The stored version must not stop later publishes of the entry: a release tag on the same commit.
        h.GitHub.PushTag(c.Repo, "v1.0.0", sha);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1.0.0", sha);
        Assert.Equal(AttemptStatus.Published, (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 2))[0].Status);
        var versions = (await GitHubHarness.VersionsAsync(h.Api, c.EntryId)).Select(v => v["version"]!.GetValue<string>()).ToList();
        Assert.Equal(["1.0.0", "0.0.0-github.0123456"], versions);
        var entry = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{c.EntryId}");
        Assert.Equal("1.0.0", entry!["latest_version"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_moved_tag_with_different_content_fails_and_leaves_the_release_untouched()
    {
        var c = await h.ConnectRepoAsync(h.Api, "moved-tag");
        h.GitHub.PushTag(c.Repo, "v1.0.0", c.Sha);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1.0.0", c.Sha);
        Assert.Equal(AttemptStatus.Published, (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0].Status);
        var original = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{c.EntryId}/versions/1.0.0");
        var originalHash = original!["content_hash"]!.GetValue<string>();

        var moved = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("moved-tag", extra: "different content"));
        h.GitHub.PushTag(c.Repo, "v1.0.0", moved);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1.0.0", moved);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 2))[0];
        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        Assert.Contains("version 1.0.0 already exists with different content", attempt.Message);
        Assert.Equal(moved, attempt.CommitSha);

        var after = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{c.EntryId}/versions/1.0.0");
        Assert.Equal(originalHash, after!["content_hash"]!.GetValue<string>());
        Assert.Equal(original["published_at"]!.GetValue<string>(), after["published_at"]!.GetValue<string>());
        Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
    }

    [Fact]
    public async Task The_same_files_gzipped_to_other_bytes_are_the_same_content_and_publish_no_second_version()
    {
        // A version an earlier build published: the same files, gzipped to other archive bytes (another compression level;
        // the runtime's zlib before an update). The content hash differs, the files do not.
        var c = await h.ConnectRepoAsync(h.Api, "regzipped");
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var first = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.Equal(AttemptStatus.Published, first.Status);
        var earlierBytes = new string('e', 64);
        await h.App.WithDbAsync(db => db.Versions.Where(v => v.EntryId == Guid.Parse(c.EntryId))
            .ExecuteUpdateAsync(u => u.SetProperty(v => v.ContentHash, earlierBytes)));

        // The push comes again (GitHub re-delivers; someone replays it): the commit's prerelease is there with the same files.
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var again = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 2))[0];
        Assert.Equal(AttemptStatus.Unchanged, again.Status);
        Assert.Equal(first.Version, again.Version);
        var version = Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId)); // not a ".1" beside it
        Assert.Equal(earlierBytes, version["content_hash"]!.GetValue<string>()); // the stored version as it was
    }

    [Fact]
    public async Task A_tag_push_publishes_the_commit_its_payload_names_without_asking_github_for_the_tag()
    {
        var c = await h.ConnectRepoAsync(h.Api, "tag-head-commit");
        var tagged = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("tag-head-commit", extra: "what was tagged"));
        // An annotated tag: the push's after is the tag object; head_commit is the commit the tag points to.
        const string tagObject = "7a9c0d6e5b4f3a2918273645546372819a0b1c2d";
        var payload = JsonNode.Parse(GitHubHarness.AdaptPush(GitHubHarness.SharedPayload("push/with-installation.payload.json"),
            c.Repo, c.Installation, "refs/tags/v3.0.0", tagObject))!;
        payload["head_commit"]!["id"] = tagged;
        // By the time the publish runs, the tag was moved on to another commit: the push still names what was pushed.
        h.GitHub.PushTag(c.Repo, "v3.0.0", h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("tag-head-commit", extra: "moved on")));
        var resolvesBefore = h.GitHub.CountRequests($"/repos/{c.Repo.FullName}/commits/");

        await h.SendAsync("push", payload.ToJsonString());

        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.True(attempt.Status == AttemptStatus.Published, attempt.Message);
        Assert.Equal(("3.0.0", tagged), (attempt.Version, attempt.CommitSha));
        Assert.Equal(resolvesBefore, h.GitHub.CountRequests($"/repos/{c.Repo.FullName}/commits/"));
        var version = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{c.EntryId}/versions/3.0.0");
        var readme = version!["file_manifest"]!.AsArray().Single(f => f!["path"]!.GetValue<string>() == "README.md")!;
        Assert.Equal("what was tagged".Length, readme["size"]!.GetValue<long>()); // not the 8 bytes of "moved on"
    }

    [Fact]
    public async Task Write_back_is_unsupported_without_checks_or_statuses_permission()
    {
        var c = await h.ConnectRepoAsync(h.Api, "no-write-perms", new { write_back_enabled = true }, checksWrite: false, statusesWrite: false);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.Equal(AttemptStatus.Published, attempt.Status);
        Assert.Equal("unsupported", (await LatestAttemptJsonAsync(h.Api, c.ConnectionId))["write_back_status"]!.GetValue<string>());
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id);
        Assert.DoesNotContain(h.GitHub.Statuses, s => s.RepoId == c.Repo.Id);
    }

    [Fact]
    public async Task With_only_statuses_permission_a_commit_status_is_posted_under_the_connection_context()
    {
        var c = await h.ConnectRepoAsync(h.Api, "statuses-only", new { write_back_enabled = true }, checksWrite: false, statusesWrite: true);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        Assert.Equal(AttemptStatus.Published, (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0].Status);

        var json = await LatestAttemptJsonAsync(h.Api, c.ConnectionId);
        var context = $"selftune/publish/{c.ConnectionId.ToString()[..8]}";
        Assert.Equal("success", json["write_back_status"]!.GetValue<string>());
        Assert.Equal(context, json["status_context"]!.GetValue<string>());
        Assert.Null(json["check_run_id"]);

        var statuses = h.GitHub.Statuses.Where(s => s.RepoId == c.Repo.Id).OrderBy(s => s.Id).ToList();
        Assert.Equal(["pending", "success"], statuses.Select(s => s.State).ToList());
        Assert.All(statuses, s => Assert.Equal(context, s.Context));
        Assert.All(statuses, s => Assert.Equal(c.Sha, s.Sha));
        Assert.Contains("Published", statuses[^1].Description);
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id);
    }

    [Fact]
    public async Task Write_back_is_disabled_when_the_connection_has_it_off()
    {
        var c = await h.ConnectRepoAsync(h.Api, "wb-off-connection");
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        Assert.Equal(AttemptStatus.Published, (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0].Status);
        Assert.Equal("disabled", (await LatestAttemptJsonAsync(h.Api, c.ConnectionId))["write_back_status"]!.GetValue<string>());
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id);
    }

    [Fact]
    public async Task Write_back_is_disabled_when_the_org_mode_is_off()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var settings = await api.PostAsJsonAsync("/api/v1/github/settings", new { write_back_mode = "off" });
        Assert.Equal("off", (await settings.Content.ReadFromJsonAsync<JsonObject>())!["write_back_mode"]!.GetValue<string>());
        Assert.Equal("off", (await api.GetFromJsonAsync<JsonObject>("/api/v1/github/settings"))!["write_back_mode"]!.GetValue<string>());
        await GitHubHarness.AssertProblemAsync(await api.PostAsJsonAsync("/api/v1/github/settings", new { write_back_mode = "loud" }),
            HttpStatusCode.BadRequest, "invalid_request");

        var c = await h.ConnectRepoAsync(api, "wb-off-org", new { write_back_enabled = true });
        var sync = await api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null);
        var answer = (await sync.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("published", answer["status"]!.GetValue<string>());
        Assert.Equal("disabled", answer["write_back_status"]!.GetValue<string>());
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id);
        Assert.DoesNotContain(h.GitHub.Statuses, s => s.RepoId == c.Repo.Id);
    }

    [Fact]
    public async Task A_failing_check_run_call_leaves_the_publish_standing_with_write_back_failed()
    {
        var c = await h.ConnectRepoAsync(h.Api, "checks-down", new { write_back_enabled = true });
        var fault = h.GitHub.InjectFault(Fault.ServerError($"/repos/{c.Repo.FullName}/check-runs", times: 100).ForMethod("POST"));
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        h.GitHub.ClearFaults();

        Assert.True(fault.Remaining < 100);
        Assert.Equal(AttemptStatus.Published, attempt.Status);
        Assert.Equal(WriteBackStatus.Failed, attempt.WriteBackStatus);
        Assert.Contains("Write-back to GitHub failed", attempt.Message);
        Assert.Contains("500", attempt.Message);
        var json = await LatestAttemptJsonAsync(h.Api, c.ConnectionId);
        Assert.Equal("failed", json["write_back_status"]!.GetValue<string>());
        Assert.Equal("published", json["status"]!.GetValue<string>());
        var version = Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        Assert.Equal($"0.0.0-github.{c.Sha[..7]}", version["version"]!.GetValue<string>());
    }
}
