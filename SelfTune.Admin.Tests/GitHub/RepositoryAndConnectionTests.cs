using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>SPEC sections 5 and 6: listing repositories, and the connection rules the seed leaves open.</summary>
public sealed class RepositoryAndConnectionTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task Repos_needs_an_installation_id_bound_to_this_org()
    {
        var missing = await h.Api.GetAsync("/api/v1/github/repos");
        var problem = await GitHubHarness.AssertProblemAsync(missing, HttpStatusCode.BadRequest, "invalid_request");
        Assert.NotNull(problem["errors"]!["installation_id"]);
        await GitHubHarness.AssertProblemAsync(await h.Api.GetAsync("/api/v1/github/repos?installation_id=abc"), HttpStatusCode.BadRequest, "invalid_request");

        var unbound = h.GitHub.AddInstallation("unbound-org");
        h.GitHub.AddRepo(unbound, "unbound-org", "r");
        problem = await GitHubHarness.AssertProblemAsync(await h.Api.GetAsync($"/api/v1/github/repos?installation_id={unbound.Id}"), HttpStatusCode.NotFound, "not_found");
        Assert.Contains(unbound.Id.ToString(), problem["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Repos_lists_every_page_of_a_large_installation()
    {
        var installation = h.GitHub.AddInstallation("many-repos");
        const int count = 205; // the product asks for 100 per page: three pages
        for (var i = 0; i < count; i++) h.GitHub.AddRepo(installation, "many-repos", $"repo-{i:D3}");
        await h.BindAsync(h.Api, installation);
        h.GitHub.ClearRequestLog();

        var repos = (await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/github/repos?installation_id={installation.Id}"))!["repos"]!.AsArray();
        Assert.Equal(count, repos.Count);
        Assert.Equal(count, repos.Select(r => r!["id"]!.GetValue<long>()).Distinct().Count());
        Assert.Contains(repos, r => r!["full_name"]!.GetValue<string>() == "many-repos/repo-204");
        Assert.Equal(3, h.GitHub.CountRequests("/installation/repositories", "GET"));
    }

    [Fact]
    public async Task Create_validates_each_field_with_422()
    {
        var installation = h.GitHub.AddInstallation("validate-org");
        var repo = h.GitHub.AddRepo(installation, "validate-org", "skills");
        var unreachableOwner = h.GitHub.AddInstallation("elsewhere-org");
        h.GitHub.AddRepo(unreachableOwner, "elsewhere-org", "private-skills");
        await h.BindAsync(h.Api, installation);
        var entryId = await h.CreateEntryAsync(h.Api, "validate");

        async Task<JsonObject> Refused(object changes, string field)
        {
            var body = new JsonObject { ["entry_id"] = entryId, ["installation_id"] = installation.Id, ["repo_full_name"] = repo.FullName };
            foreach (var (k, v) in System.Text.Json.JsonSerializer.SerializeToNode(changes, GitHubHarness.Json)!.AsObject()) body[k] = v?.DeepClone();
            var response = await h.Api.PostAsJsonAsync("/api/v1/github/connections", body);
            var problem = await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "validation_failed");
            Assert.True(problem["errors"]?[field] is not null, $"errors.{field} missing in {problem}");
            return problem;
        }

        await Refused(new { repo_full_name = "not a repo" }, "repo_full_name");
        await Refused(new { repo_full_name = "owner/repo/extra" }, "repo_full_name");
        await Refused(new { repo_full_name = "-bad/repo" }, "repo_full_name");
        var unreachable = await Refused(new { repo_full_name = "elsewhere-org/private-skills" }, "repo_full_name");
        Assert.Contains("not reachable", unreachable["detail"]!.GetValue<string>());
        await Refused(new { repo_full_name = "validate-org/no-such-repo" }, "repo_full_name");
        await Refused(new { skill_path = "skills/../secret" }, "skill_path");
        await Refused(new { skill_path = ".." }, "skill_path");
        await Refused(new { skill_path = "/etc/skill" }, "skill_path");
        await Refused(new { skill_path = "skills\\foo" }, "skill_path");
        await Refused(new { skill_path = new string('a', 1025) }, "skill_path");
        var pattern = await Refused(new { tag_pattern = "v[" }, "tag_pattern");
        Assert.Contains("v[", pattern["detail"]!.GetValue<string>());
        await Refused(new { default_branch = "bad..branch" }, "default_branch");
        await Refused(new { entry_id = Guid.NewGuid() }, "entry_id");

        // An entry of another org is as good as unknown.
        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro);
        using var other = h.App.CreateClient(otherKey);
        var othersEntry = await h.CreateEntryAsync(other, "validate");
        var foreign = await Refused(new { entry_id = othersEntry }, "entry_id");
        Assert.DoesNotContain("validate", foreign["errors"]!["entry_id"]![0]!.GetValue<string>().Replace(othersEntry, ""));

        // Nothing was created by any of the refusals.
        var connections = (await h.Api.GetFromJsonAsync<JsonObject>("/api/v1/github/connections"))!["connections"]!.AsArray();
        Assert.DoesNotContain(connections, c => c!["repo_id"]!.GetValue<long>() == repo.Id);
    }

    [Fact]
    public async Task A_suspended_installation_cannot_list_or_connect_repositories()
    {
        var installation = h.GitHub.AddInstallation("frozen-org");
        var repo = h.GitHub.AddRepo(installation, "frozen-org", "skills");
        await h.BindAsync(h.Api, installation);
        var entryId = await h.CreateEntryAsync(h.Api, "frozen");
        // Suspended on GitHub, and recorded so (as the installation "suspend" webhook does).
        installation.Suspended = true;
        await h.App.WithDbAsync(async db =>
        {
            foreach (var row in db.Installations.Where(i => i.InstallationId == installation.Id)) row.Suspended = true;
            return await db.SaveChangesAsync();
        });

        var body = new { entry_id = entryId, installation_id = installation.Id, repo_full_name = repo.FullName };
        var problem = await GitHubHarness.AssertProblemAsync(await h.Api.PostAsJsonAsync("/api/v1/github/connections", body),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Contains($"Installation {installation.Id} is suspended", problem["detail"]!.GetValue<string>());
        Assert.Contains("suspended", problem["errors"]!["installation_id"]![0]!.GetValue<string>());

        var listing = await GitHubHarness.AssertProblemAsync(await h.Api.GetAsync($"/api/v1/github/repos?installation_id={installation.Id}"),
            HttpStatusCode.Conflict, "conflict");
        Assert.Contains("suspended", listing["detail"]!.GetValue<string>());

        var connections = (await h.Api.GetFromJsonAsync<JsonObject>("/api/v1/github/connections"))!["connections"]!.AsArray();
        Assert.DoesNotContain(connections, c => c!["repo_id"]!.GetValue<long>() == repo.Id);
    }

    [Fact]
    public async Task The_same_repository_and_skill_path_feed_only_one_entry_per_org()
    {
        var first = await h.ConnectRepoAsync(h.Api, "dup-skills", new { skill_path = "skills/a" });
        var otherEntry = await h.CreateEntryAsync(h.Api, "dup-skills-2");

        var body = new { entry_id = otherEntry, installation_id = first.Installation.Id, repo_full_name = first.Repo.FullName, skill_path = "skills/a/" };
        var problem = await GitHubHarness.AssertProblemAsync(await h.Api.PostAsJsonAsync("/api/v1/github/connections", body), HttpStatusCode.Conflict, "conflict");
        Assert.Contains("skills/a", problem["detail"]!.GetValue<string>());

        // Another folder of the same repository is fine, and PATCHing it onto the taken folder is the same conflict.
        var second = await h.ConnectAsync(h.Api, otherEntry, first.Installation, first.Repo, new { skill_path = "skills/b" });
        var patch = await h.Api.PatchAsJsonAsync($"/api/v1/github/connections/{second["id"]}", new { skill_path = "skills/a" });
        await GitHubHarness.AssertProblemAsync(patch, HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Patch_changes_each_field_and_validates_it()
    {
        var c = await h.ConnectRepoAsync(h.Api, "patch-me");
        var url = $"/api/v1/github/connections/{c.ConnectionId}";
        Assert.False(c.Connection["write_back_enabled"]!.GetValue<bool>());

        async Task<JsonObject> Patch(object body)
        {
            var response = await h.Api.PatchAsJsonAsync(url, body);
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            var patched = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.Equal(patched.ToJsonString(), (await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId)).ToJsonString());
            return patched;
        }

        Assert.True((await Patch(new { write_back_enabled = true }))["write_back_enabled"]!.GetValue<bool>());
        Assert.False((await Patch(new { auto_publish = false }))["auto_publish"]!.GetValue<bool>());
        Assert.Equal("release-*", (await Patch(new { tag_pattern = "release-*" }))["tag_pattern"]!.GetValue<string>());
        Assert.Equal("develop", (await Patch(new { default_branch = "develop" }))["default_branch"]!.GetValue<string>());
        var last = await Patch(new { skill_path = "skills/patched/" });
        Assert.Equal("skills/patched", last["skill_path"]!.GetValue<string>());
        // Fields not sent are left as they were.
        Assert.True(last["write_back_enabled"]!.GetValue<bool>());
        Assert.False(last["auto_publish"]!.GetValue<bool>());
        Assert.Equal("release-*", last["tag_pattern"]!.GetValue<string>());
        Assert.Equal("develop", last["default_branch"]!.GetValue<string>());

        await GitHubHarness.AssertProblemAsync(await h.Api.PatchAsJsonAsync(url, new { tag_pattern = "v[" }), HttpStatusCode.UnprocessableEntity, "validation_failed");
        await GitHubHarness.AssertProblemAsync(await h.Api.PatchAsJsonAsync(url, new { skill_path = "../up" }), HttpStatusCode.UnprocessableEntity, "validation_failed");
        await GitHubHarness.AssertProblemAsync(await h.Api.PatchAsJsonAsync(url, new { default_branch = "a b" }), HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.Equal("release-*", (await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId))["tag_pattern"]!.GetValue<string>());
    }

    [Fact]
    public async Task Delete_removes_the_connection_and_keeps_published_versions()
    {
        var c = await h.ConnectRepoAsync(h.Api, "delete-me");
        var sync = await h.Api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null);
        Assert.Equal("published", (await sync.Content.ReadFromJsonAsync<JsonObject>())!["status"]!.GetValue<string>());

        var deleted = await h.Api.DeleteAsync($"/api/v1/github/connections/{c.ConnectionId}");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Equal("""{"deleted":true}""", await deleted.Content.ReadAsStringAsync());

        await GitHubHarness.AssertProblemAsync(await h.Api.GetAsync($"/api/v1/github/connections/{c.ConnectionId}"), HttpStatusCode.NotFound, "not_found");
        var versions = await GitHubHarness.VersionsAsync(h.Api, c.EntryId);
        var version = Assert.Single(versions);
        Assert.Equal($"0.0.0-github.{c.Sha[..7]}", version["version"]!.GetValue<string>());
        Assert.Equal("github", version["source"]!.GetValue<string>());

        // The repository is free again: a push for it no longer publishes anything.
        var delivery = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("delete-me", extra: "2")));
        var processed = await h.WaitForDeliveryAsync(delivery);
        Assert.Equal(DeliveryOutcome.Processed, processed.Outcome);
        Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
    }
}
