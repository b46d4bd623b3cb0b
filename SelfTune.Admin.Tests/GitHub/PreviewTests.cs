using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 13, the dry run: <c>POST /api/v1/github/connections/{id}/preview</c> answers what a publish of a ref would do,
/// publishes nothing, and agrees with the publish that follows.
/// </summary>
public sealed class PreviewTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    Task<HttpResponseMessage> PreviewAsync(Guid connectionId, object body) =>
        h.Api.PostAsJsonAsync($"/api/v1/github/connections/{connectionId}/preview", body);

    async Task<JsonObject> PreviewOkAsync(Guid connectionId, string reference)
    {
        using var response = await PreviewAsync(connectionId, new { @ref = reference });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    [Fact]
    public async Task Preview_of_the_head_commit_has_the_version_and_hash_of_the_push_that_publishes_it()
    {
        var c = await h.ConnectRepoAsync(h.Api, "preview-head");

        var preview = await PreviewOkAsync(c.ConnectionId, "main");
        Assert.Equal("publishes", preview["outcome"]!.GetValue<string>());
        Assert.Equal($"0.0.0-github.{c.Sha[..7]}", preview["version"]!.GetValue<string>());
        Assert.Equal(c.Sha, preview["commit_sha"]!.GetValue<string>());
        Assert.Null(preview["tag"]);
        Assert.Equal(["README.md", "SKILL.md"], preview["files"]!.AsArray().Select(f => f!["path"]!.GetValue<string>()).ToList());
        Assert.Equal(5, preview["files"]![0]!["size"]!.GetValue<long>()); // "hello"
        Assert.Empty(preview["problems"]!.AsArray());
        var hash = preview["content_hash"]!.GetValue<string>();
        Assert.Matches("^[0-9a-f]{64}$", hash);

        // Nothing was published, recorded or reported to GitHub.
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id);

        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.True(attempt.Status == AttemptStatus.Published, attempt.Message);
        var version = Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        Assert.Equal(preview["version"]!.GetValue<string>(), version["version"]!.GetValue<string>());
        Assert.Equal(hash, version["content_hash"]!.GetValue<string>());
        Assert.Equal(preview["size"]!.GetValue<long>(), version["size"]!.GetValue<long>());
        Assert.Equal(preview["file_count"]!.GetValue<int>(), version["file_count"]!.GetValue<int>());

        // Once published, the same ref previews as unchanged, with the same hash.
        var again = await PreviewOkAsync(c.ConnectionId, c.Sha.ToUpperInvariant());
        Assert.Equal("unchanged", again["outcome"]!.GetValue<string>());
        Assert.Equal(hash, again["content_hash"]!.GetValue<string>());
    }

    [Fact]
    public async Task Preview_of_a_tag_answers_its_release_version_and_a_tag_outside_the_pattern_is_skipped()
    {
        var c = await h.ConnectRepoAsync(h.Api, "preview-tag");
        h.GitHub.PushTag(c.Repo, "v1.2.0", c.Sha);
        h.GitHub.PushTag(c.Repo, "nightly", c.Sha);

        var release = await PreviewOkAsync(c.ConnectionId, "v1.2.0");
        Assert.Equal("publishes", release["outcome"]!.GetValue<string>());
        Assert.Equal("1.2.0", release["version"]!.GetValue<string>());
        Assert.Equal("v1.2.0", release["tag"]!.GetValue<string>());

        var skipped = await PreviewOkAsync(c.ConnectionId, "nightly");
        Assert.Equal("skipped", skipped["outcome"]!.GetValue<string>());
        Assert.Null(skipped["version"]);
        Assert.Contains("nightly", skipped["message"]!.GetValue<string>());

        await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1.2.0", c.Sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0];
        Assert.True(attempt.Status == AttemptStatus.Published, attempt.Message);
        var version = Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        Assert.Equal("1.2.0", version["version"]!.GetValue<string>());
        Assert.Equal(release["content_hash"]!.GetValue<string>(), version["content_hash"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_ref_with_an_invalid_SKILL_md_answers_its_problem_and_publishes_nothing()
    {
        var c = await h.ConnectRepoAsync(h.Api, "preview-broken");
        var broken = h.GitHub.PushCommit(c.Repo, "broken", new Dictionary<string, byte[]>
        {
            ["SKILL.md"] = Encoding.UTF8.GetBytes("---\ndescription: a skill without a name\n---\n# Nameless\n"),
        });

        var preview = await PreviewOkAsync(c.ConnectionId, "broken");
        Assert.Equal("fails", preview["outcome"]!.GetValue<string>());
        Assert.Equal(broken, preview["commit_sha"]!.GetValue<string>());
        Assert.Null(preview["content_hash"]);
        Assert.Empty(preview["files"]!.AsArray());
        var problem = Assert.Single(preview["problems"]!.AsArray())!;
        Assert.Equal("SKILL.md", problem["file"]!.GetValue<string>());
        Assert.Contains("name", problem["message"]!.GetValue<string>());
        Assert.Contains(problem["message"]!.GetValue<string>(), preview["message"]!.GetValue<string>());

        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id);
    }

    [Fact]
    public async Task Unknown_or_missing_refs_and_unknown_connections_are_refused_in_words()
    {
        var c = await h.ConnectRepoAsync(h.Api, "preview-refused");

        var unknown = await GitHubHarness.AssertProblemAsync(await PreviewAsync(c.ConnectionId, new { @ref = "no-such-branch" }),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Contains("has no tag, branch or commit 'no-such-branch'", unknown["detail"]!.GetValue<string>());

        var unknownSha = new string('a', 40);
        var sha = await GitHubHarness.AssertProblemAsync(await PreviewAsync(c.ConnectionId, new { @ref = unknownSha }),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Contains(unknownSha, sha["detail"]!.GetValue<string>());

        var missing = await GitHubHarness.AssertProblemAsync(await PreviewAsync(c.ConnectionId, new { }), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("ref is required", missing["detail"]!.GetValue<string>());

        await GitHubHarness.AssertProblemAsync(await PreviewAsync(Guid.NewGuid(), new { @ref = "main" }), HttpStatusCode.NotFound, "not_found");
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
    }
}
