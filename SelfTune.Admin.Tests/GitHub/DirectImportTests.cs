using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>SPEC section 10: POST /api/v1/registry/{id}/versions/github imports a ref through a bound installation.</summary>
public sealed class DirectImportTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task Imports_a_tag_and_a_branch_with_github_direct_provenance()
    {
        var installation = h.GitHub.AddInstallation("import-org");
        var repo = h.GitHub.AddRepo(installation, "import-org", "skills");
        var files = GitHubHarness.Skill("imported");
        var nested = files.ToDictionary(f => "skills/imported/" + f.Key, f => f.Value);
        nested["README.md"] = "repo readme"u8.ToArray();
        var sha = h.GitHub.PushCommit(repo, "main", nested);
        h.GitHub.PushTag(repo, "v3.0.0", sha);
        await h.BindAsync(h.Api, installation);
        var entryId = await h.CreateEntryAsync(h.Api, "imported");

        var tag = await h.Api.PostAsJsonAsync($"/api/v1/registry/{entryId}/versions/github",
            new { repo_full_name = "import-org/skills", @ref = "v3.0.0", skill_path = "skills/imported", version = "3.0.0" });
        Assert.Equal(HttpStatusCode.Created, tag.StatusCode);
        var released = (await tag.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("github-direct", released["source"]!.GetValue<string>());
        Assert.Equal("v3.0.0", released["source_ref"]!.GetValue<string>());
        Assert.Equal("import-org/skills", released["source_repo"]!.GetValue<string>());
        Assert.Equal(2, released["file_count"]!.GetValue<int>()); // only the skill folder, re-rooted

        var branch = await h.Api.PostAsJsonAsync($"/api/v1/registry/{entryId}/versions/github",
            new { repo_full_name = "import-org/skills", @ref = "main", skill_path = "skills/imported" });
        Assert.Equal(HttpStatusCode.Created, branch.StatusCode);
        var prerelease = (await branch.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal($"0.0.0-github.{sha[..7]}", prerelease["version"]!.GetValue<string>());
        Assert.Equal(sha, prerelease["source_ref"]!.GetValue<string>());

        // The same import again is the same version: 200, not a new one.
        var again = await h.Api.PostAsJsonAsync($"/api/v1/registry/{entryId}/versions/github",
            new { repo_full_name = "import-org/skills", @ref = "main", skill_path = "skills/imported" });
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task Refuses_what_cannot_be_imported()
    {
        var entryId = await h.CreateEntryAsync(h.Api, "not-imported");
        var unreachable = await h.Api.PostAsJsonAsync($"/api/v1/registry/{entryId}/versions/github",
            new { repo_full_name = "nobody/nothing", @ref = "main" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unreachable.StatusCode);
        Assert.Contains("not reachable", (await unreachable.Content.ReadFromJsonAsync<JsonObject>())!["detail"]!.GetValue<string>());

        var missingRef = await h.Api.PostAsJsonAsync($"/api/v1/registry/{entryId}/versions/github", new { repo_full_name = "a/b" });
        Assert.Equal(HttpStatusCode.BadRequest, missingRef.StatusCode);

        var (_, freeKey) = await h.App.CreateOrgAsync(Plan.Free);
        using var free = h.App.CreateClient(freeKey);
        var plan = await free.PostAsJsonAsync($"/api/v1/registry/{entryId}/versions/github", new { repo_full_name = "a/b", @ref = "main" });
        Assert.Equal(HttpStatusCode.PaymentRequired, plan.StatusCode);

        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var other = h.App.CreateClient(otherKey);
        var foreign = await other.PostAsJsonAsync($"/api/v1/registry/{entryId}/versions/github", new { repo_full_name = "a/b", @ref = "main" });
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
    }
}
