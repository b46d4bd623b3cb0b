using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>The seed's three steps end to end: bind → list repos → connect → webhooks publish → sync → check runs.</summary>
public sealed class SeedWalkthroughTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task Bind_list_connect_push_tag_and_sync_publish_with_provenance_and_check_runs()
    {
        var gh = h.GitHub;
        var installation = gh.AddInstallation("acme-gh");
        var repo = gh.AddRepo(installation, "acme-gh", "skills");
        var other = gh.AddRepo(installation, "acme-gh", "shared-skill");
        var sha = gh.PushCommit(repo, "main", GitHubHarness.Skill("hello"));
        gh.PushCommit(other, "main", GitHubHarness.Skill("shared"));

        // Step 1: bind, with the state GitHub hands back on the redirect.
        var bound = await h.BindAsync(h.Api, installation);
        Assert.Equal(installation.Id, bound["installation_id"]!.GetValue<long>());
        Assert.Equal("acme-gh", bound["account_login"]!.GetValue<string>());
        Assert.Equal("Organization", bound["account_type"]!.GetValue<string>());

        // Another org connects shared-skill first: for acme it is connected_elsewhere.
        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using (var otherApi = h.App.CreateClient(otherKey))
        {
            await h.BindAsync(otherApi, installation);
            var otherEntry = await h.CreateEntryAsync(otherApi, "shared");
            await h.ConnectAsync(otherApi, otherEntry, installation, other);
        }

        // Step 2: repositories, all of them, flagged by repository id.
        var repos = (await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/github/repos?installation_id={installation.Id}"))!["repos"]!.AsArray();
        Assert.Equal(2, repos.Count);
        var listed = repos.Single(r => r!["full_name"]!.GetValue<string>() == "acme-gh/skills")!;
        Assert.False(listed["connected_elsewhere"]!.GetValue<bool>());
        Assert.Equal(repo.Id, listed["id"]!.GetValue<long>());
        Assert.Equal("main", listed["default_branch"]!.GetValue<string>());
        Assert.True(repos.Single(r => r!["full_name"]!.GetValue<string>() == "acme-gh/shared-skill")!["connected_elsewhere"]!.GetValue<bool>());

        // Step 3: connect, with write-back on. (Created the way that does not publish on create, so that the seed's push
        // below is what publishes; PublishOnCreateTests covers the first sync.)
        var entryId = await h.CreateEntryAsync(h.Api, "hello");
        var connection = await h.ConnectAsync(h.Api, entryId, installation, repo, new { write_back_enabled = true }, firstSync: false);
        var connectionId = Guid.Parse(connection["id"]!.GetValue<string>());
        Assert.Equal("v*", connection["tag_pattern"]!.GetValue<string>());
        Assert.Equal(".", connection["skill_path"]!.GetValue<string>());
        Assert.True(connection["auto_publish"]!.GetValue<bool>());
        Assert.Null(connection["last_attempt"]);

        // A real push payload (octokit/webhooks), adapted in ids and SHAs only.
        var push = GitHubHarness.AdaptPush(GitHubHarness.SharedPayload("push/with-installation.payload.json"), repo, installation, "refs/heads/main", sha);
        var accepted = await h.SendWebhookAsync("push", push);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var attempts = await h.WaitForFinishedAttemptsAsync(connectionId, 1);
        Assert.Equal(AttemptStatus.Published, attempts[0].Status);
        Assert.Equal(AttemptTrigger.Push, attempts[0].Trigger);

        var version = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{entryId}/versions/0.0.0-github.{sha[..7]}");
        Assert.Equal("github", version!["source"]!.GetValue<string>());
        Assert.Equal(sha, version["source_ref"]!.GetValue<string>());
        Assert.Equal("acme-gh/skills", version["source_repo"]!.GetValue<string>());

        // A matching tag publishes the release version.
        gh.PushTag(repo, "v1.2.0", sha);
        var tagPush = GitHubHarness.AdaptPush(GitHubHarness.SharedPayload("push/with-installation.payload.json"), repo, installation, "refs/tags/v1.2.0", sha);
        Assert.Equal(HttpStatusCode.Accepted, (await h.SendWebhookAsync("push", tagPush)).StatusCode);
        attempts = await h.WaitForFinishedAttemptsAsync(connectionId, 2);
        Assert.Equal(AttemptStatus.Published, attempts[0].Status);
        Assert.Equal("1.2.0", attempts[0].Version);
        var release = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{entryId}/versions/1.2.0");
        Assert.Equal("v1.2.0", release!["source_ref"]!.GetValue<string>());
        Assert.Equal("github", release["source"]!.GetValue<string>());

        // v1.2 matches v* but is not SemVer: skipped, and the message says why.
        gh.PushTag(repo, "v1.2", sha);
        var badTag = GitHubHarness.AdaptPush(GitHubHarness.SharedPayload("push/with-installation.payload.json"), repo, installation, "refs/tags/v1.2", sha);
        await h.SendWebhookAsync("push", badTag);
        attempts = await h.WaitForFinishedAttemptsAsync(connectionId, 3);
        Assert.Equal(AttemptStatus.Skipped, attempts[0].Status);
        Assert.Contains("v1.2", attempts[0].Message);
        Assert.Contains("SemVer", attempts[0].Message);

        // Sync after a new commit answers the seed's object for the new prerelease.
        var next = gh.PushCommit(repo, "main", GitHubHarness.Skill("hello", extra: "second"));
        var sync = await h.Api.PostAsync($"/api/v1/github/connections/{connectionId}/sync", null);
        Assert.Equal(HttpStatusCode.OK, sync.StatusCode);
        var answer = (await sync.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(connectionId.ToString(), answer["connection_id"]!.GetValue<string>());
        Assert.Equal("published", answer["status"]!.GetValue<string>());
        Assert.Equal($"0.0.0-github.{next[..7]}", answer["version"]!.GetValue<string>());
        Assert.Equal(next, answer["source_ref"]!.GetValue<string>());
        Assert.Equal($"Published 0.0.0-github.{next[..7]} from acme-gh/skills.", answer["message"]!.GetValue<string>());
        Assert.Equal("success", answer["write_back_status"]!.GetValue<string>());
        Assert.Matches("^[0-9]+$", answer["check_run_id"]!.GetValue<string>());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", answer["published_at"]!.GetValue<string>());

        // The check runs exist on GitHub with the right name, commit and conclusion.
        var runs = gh.CheckRuns.Where(r => r.RepoId == repo.Id).ToList();
        Assert.Contains(runs, r => r.Name == "SelfTune publish: hello" && r.HeadSha == sha && r.Conclusion == "success"
                                   && r.StatusHistory.SequenceEqual(["in_progress", "completed"]));
        Assert.Contains(runs, r => r.HeadSha == next && r.Conclusion == "success" && r.Id.ToString() == answer["check_run_id"]!.GetValue<string>());
        Assert.Contains(runs, r => r.HeadSha == sha && r.Conclusion == "skipped"); // the v1.2 tag

        // last_attempt is the newest attempt, and the history keeps all of them.
        var list = (await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/github/connections/{connectionId}/attempts"))!["attempts"]!.AsArray();
        Assert.Equal(4, list.Count);
        var listedConnection = (await h.Api.GetFromJsonAsync<JsonObject>("/api/v1/github/connections"))!["connections"]!.AsArray()
            .Single(c => c!["id"]!.GetValue<string>() == connectionId.ToString())!;
        Assert.Equal(list[0]!["id"]!.GetValue<string>(), listedConnection["last_attempt"]!["id"]!.GetValue<string>());
        Assert.Empty(gh.UnknownRouteRequests);
    }
}
