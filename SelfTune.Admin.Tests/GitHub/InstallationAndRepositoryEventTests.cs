using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Fakes;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// SPEC section 8: installation, installation_repositories and repository events keep bindings and connections in step
/// with GitHub. Payloads are the real ones from shared/github-payloads, adapted in ids and names.
/// </summary>
public sealed class InstallationAndRepositoryEventTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    static string InstallationEvent(string file, FakeInstallation installation)
    {
        var payload = GitHubHarness.SharedPayload($"installation/{file}.payload.json");
        GitHubHarness.AdaptInstallation(payload, installation);
        return payload.ToJsonString();
    }

    async Task<JsonObject> InstallationRowAsync(long installationId) =>
        (await h.Api.GetFromJsonAsync<JsonObject>("/api/v1/github/installations"))!["installations"]!.AsArray()
            .Single(i => i!["installation_id"]!.GetValue<long>() == installationId)!.AsObject();

    [Fact]
    public async Task Suspend_and_unsuspend_pause_and_resume_the_connections()
    {
        var c = await h.ConnectRepoAsync(h.Api, "suspended-skill");
        c.Installation.Suspended = true;
        var delivery = await h.SendAsync("installation", InstallationEvent("suspend", c.Installation));
        Assert.Equal(DeliveryOutcome.Processed, (await h.WaitForDeliveryAsync(delivery)).Outcome);

        Assert.True((await InstallationRowAsync(c.Installation.Id))["suspended"]!.GetValue<bool>());
        var paused = await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId);
        Assert.Contains("suspended", paused["paused_reason"]!.GetValue<string>());

        c.Installation.Suspended = false;
        delivery = await h.SendAsync("installation", InstallationEvent("unsuspend", c.Installation));
        await h.WaitForDeliveryAsync(delivery);
        Assert.False((await InstallationRowAsync(c.Installation.Id))["suspended"]!.GetValue<bool>());
        Assert.Null((await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId))["paused_reason"]);

        // Active again: a push publishes.
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempts = await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);
        Assert.Equal(AttemptStatus.Published, attempts[0].Status);
    }

    [Fact]
    public async Task Uninstalling_pauses_connections_and_a_later_push_is_skipped_naming_the_reason()
    {
        var c = await h.ConnectRepoAsync(h.Api, "uninstalled-skill");
        var delivery = await h.SendAsync("installation", InstallationEvent("deleted", c.Installation));
        await h.WaitForDeliveryAsync(delivery);

        var row = await InstallationRowAsync(c.Installation.Id);
        Assert.NotNull(row["deleted_at"]);
        var reason = (await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId))["paused_reason"]!.GetValue<string>();
        Assert.Contains("uninstalled", reason);
        Assert.Contains(c.Installation.AccountLogin, reason);

        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1)).Single();
        Assert.Equal(AttemptStatus.Skipped, attempt.Status);
        Assert.Contains(reason, attempt.Message);
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
    }

    [Fact]
    public async Task New_permissions_accepted_refreshes_the_permissions_from_GitHub()
    {
        var installation = h.GitHub.AddInstallation("perm-org", checksWrite: false, statusesWrite: false);
        await h.BindAsync(h.Api, installation);
        var before = await InstallationRowAsync(installation.Id);
        Assert.Null(before["permissions"]!["checks"]);
        Assert.Equal("read", before["permissions"]!["contents"]!.GetValue<string>());

        installation.SetPermissions(checksWrite: true, statusesWrite: true);
        var delivery = await h.SendAsync("installation", InstallationEvent("new_permissions_accepted", installation));
        await h.WaitForDeliveryAsync(delivery);

        var after = await InstallationRowAsync(installation.Id);
        Assert.Equal("write", after["permissions"]!["checks"]!.GetValue<string>());
        Assert.Equal("write", after["permissions"]!["statuses"]!.GetValue<string>());
        Assert.Equal(before["id"]!.GetValue<string>(), after["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Removing_a_repository_from_the_installation_pauses_its_connections_only()
    {
        var c = await h.ConnectRepoAsync(h.Api, "removed-skill");
        var kept = h.GitHub.AddRepo(c.Installation, c.Installation.AccountLogin, "kept-skill");
        h.GitHub.PushCommit(kept, "main", GitHubHarness.Skill("kept-skill"));
        var keptConnection = await h.ConnectAsync(h.Api, await h.CreateEntryAsync(h.Api, "kept-skill"), c.Installation, kept, firstSync: false);

        h.GitHub.RemoveRepoFromInstallation(c.Installation, c.Repo);
        var payload = GitHubHarness.SharedPayload("installation_repositories/removed.payload.json");
        GitHubHarness.AdaptInstallation(payload, c.Installation);
        var removed = payload["repositories_removed"]![0]!;
        GitHubHarness.AdaptRepository(removed, c.Repo);
        await h.WaitForDeliveryAsync(await h.SendAsync("installation_repositories", payload.ToJsonString()));

        var reason = (await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId))["paused_reason"]!.GetValue<string>();
        Assert.Contains(c.Repo.FullName, reason);
        Assert.Contains("removed", reason);
        Assert.Null((await GitHubHarness.GetConnectionAsync(h.Api, Guid.Parse(keptConnection["id"]!.GetValue<string>())))["paused_reason"]);

        // Added back: resumed.
        h.GitHub.AddRepoToInstallation(c.Installation, c.Repo);
        var added = GitHubHarness.SharedPayload("installation_repositories/added.payload.json");
        GitHubHarness.AdaptInstallation(added, c.Installation);
        added["repositories_added"] = new JsonArray(new JsonObject
        {
            ["id"] = c.Repo.Id, ["node_id"] = "R_x", ["name"] = c.Repo.Name, ["full_name"] = c.Repo.FullName, ["private"] = false,
        });
        await h.WaitForDeliveryAsync(await h.SendAsync("installation_repositories", added.ToJsonString()));
        Assert.Null((await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId))["paused_reason"]);
    }

    [Fact]
    public async Task A_renamed_repository_is_followed_by_id_and_publishes_under_its_new_name()
    {
        var c = await h.ConnectRepoAsync(h.Api, "old-name");
        h.GitHub.RenameRepo(c.Repo, "new-name");
        var payload = GitHubHarness.SharedPayload("repository/renamed.payload.json");
        GitHubHarness.AdaptRepository(payload["repository"]!, c.Repo);
        GitHubHarness.AdaptInstallation(payload, c.Installation);
        payload["changes"]!["repository"]!["name"]!["from"] = "old-name";
        await h.WaitForDeliveryAsync(await h.SendAsync("repository", payload.ToJsonString()));

        var connection = await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId);
        Assert.Equal($"{c.Installation.AccountLogin}/new-name", connection["repo_full_name"]!.GetValue<string>());
        Assert.Equal("new-name", connection["repo_name"]!.GetValue<string>());
        Assert.Equal(c.Repo.Id, connection["repo_id"]!.GetValue<long>());

        var sha = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("old-name", extra: "renamed"));
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", sha);
        Assert.Equal(AttemptStatus.Published, (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0].Status);
        var version = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{c.EntryId}/versions/0.0.0-github.{sha[..7]}");
        Assert.Equal($"{c.Installation.AccountLogin}/new-name", version!["source_repo"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_transferred_repository_gets_its_new_owner()
    {
        var c = await h.ConnectRepoAsync(h.Api, "moving-skill");
        var oldOwner = c.Repo.Owner;
        h.GitHub.TransferRepo(c.Repo, "new-home");
        var payload = GitHubHarness.SharedPayload("repository/transferred.with-installation.payload.json");
        GitHubHarness.AdaptRepository(payload["repository"]!, c.Repo);
        GitHubHarness.AdaptInstallation(payload, c.Installation);
        payload["changes"]!["owner"]!["from"]!["user"]!["login"] = oldOwner;
        await h.WaitForDeliveryAsync(await h.SendAsync("repository", payload.ToJsonString()));

        var connection = await GitHubHarness.GetConnectionAsync(h.Api, c.ConnectionId);
        Assert.Equal("new-home/moving-skill", connection["repo_full_name"]!.GetValue<string>());
        Assert.Equal("new-home", connection["repo_owner"]!.GetValue<string>());

        var sha = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("moving-skill", extra: "moved"));
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", sha);
        Assert.Equal(AttemptStatus.Published, (await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1))[0].Status);
        var version = await h.Api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{c.EntryId}/versions/0.0.0-github.{sha[..7]}");
        Assert.Equal("new-home/moving-skill", version!["source_repo"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_new_default_branch_is_followed_by_connections_that_followed_the_old_one()
    {
        var files = new Dictionary<string, byte[]>
        {
            ["skills/a/SKILL.md"] = Encoding.UTF8.GetBytes("---\nname: branchy-a\ndescription: A\n---\n# A\n"),
            ["skills/b/SKILL.md"] = Encoding.UTF8.GetBytes("---\nname: branchy-b\ndescription: B\n---\n# B\n"),
        };
        var following = await h.ConnectRepoAsync(h.Api, "branchy", new { skill_path = "skills/a" }, files: files);
        var custom = await h.ConnectAsync(h.Api, await h.CreateEntryAsync(h.Api, "branchy-b"), following.Installation, following.Repo,
            new { skill_path = "skills/b", default_branch = "release" }, firstSync: false);
        var customId = Guid.Parse(custom["id"]!.GetValue<string>());

        var trunkSha = h.GitHub.PushCommit(following.Repo, "trunk", files);
        following.Repo.DefaultBranch = "trunk";
        var payload = GitHubHarness.SharedPayload("repository/edited.with-default_branch-edit.payload.json");
        GitHubHarness.AdaptRepository(payload["repository"]!, following.Repo);
        payload["changes"]!["default_branch"]!["from"] = "main";
        await h.WaitForDeliveryAsync(await h.SendAsync("repository", payload.ToJsonString()));

        Assert.Equal("trunk", (await GitHubHarness.GetConnectionAsync(h.Api, following.ConnectionId))["default_branch"]!.GetValue<string>());
        Assert.Equal("release", (await GitHubHarness.GetConnectionAsync(h.Api, customId))["default_branch"]!.GetValue<string>());

        // A push to the new default publishes for the follower only.
        var delivery = await h.SendPushAsync(following.Installation, following.Repo, "refs/heads/trunk", trunkSha);
        await h.WaitForDeliveryAsync(delivery);
        var attempt = (await h.WaitForFinishedAttemptsAsync(following.ConnectionId, 1)).Single();
        Assert.Equal(AttemptStatus.Published, attempt.Status);
        Assert.Equal(trunkSha, attempt.SourceRef);
        Assert.Empty(await h.AttemptsAsync(customId));
    }
}
