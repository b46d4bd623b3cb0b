using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Packaging;

/// <summary>
/// Agent Skills specification warnings are kept with the version (the registry API's <c>warnings</c>); a GitHub publish
/// also carries them in its attempt's message, which is also the summary of the check run on the commit.
/// </summary>
public sealed class SpecificationWarningsPublishTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task A_skill_with_an_unknown_key_and_a_name_unlike_its_entry_publishes_with_both_warnings_in_the_attempt_and_check_run()
    {
        var files = new Dictionary<string, byte[]>
        {
            ["SKILL.md"] = "---\nname: spec-other\ndescription: A test skill\nuser-invocable: true\n---\n# Spec\n"u8.ToArray(),
        };
        var c = await h.ConnectRepoAsync(h.Api, "spec-warnings", new { write_back_enabled = true }, files: files);
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);

        await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);
        var published = Assert.Single(await h.AttemptsAsync(c.ConnectionId), a => a.Status == AttemptStatus.Published);
        const string unknownKey = "SKILL.md front matter has a key the Agent Skills specification does not define ('user-invocable')";
        const string otherName = "SKILL.md names the skill \"spec-other\" but the registry entry is \"spec-warnings\"";
        Assert.Contains(unknownKey, published.Message);
        Assert.Contains(otherName, published.Message);
        Assert.Contains(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id && r.Summary is { } s && s.Contains(unknownKey) && s.Contains(otherName));
        var version = Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        var kept = version["warnings"]!.AsArray().Select(w => w!.GetValue<string>()).ToList();
        Assert.Equal(2, kept.Count);
        Assert.Contains(kept, w => w.Contains(unknownKey));
        Assert.Contains(kept, w => w.Contains(otherName));
    }
}
