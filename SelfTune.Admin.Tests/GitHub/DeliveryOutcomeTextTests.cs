using System.Text.Json.Nodes;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Fakes;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// What the Deliveries page says a delivery did: GitHub's words for actions (never a .NET type name such as
/// "InstallationAction { }"), and why an event queued nothing.
/// </summary>
public sealed class DeliveryOutcomeTextTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    static string InstallationEvent(string file, FakeInstallation installation)
    {
        var payload = GitHubHarness.SharedPayload($"installation/{file}.payload.json");
        GitHubHarness.AdaptInstallation(payload, installation);
        return payload.ToJsonString();
    }

    [Fact]
    public async Task An_installation_action_is_named_in_GitHubs_words()
    {
        var installation = h.GitHub.AddInstallation("words-org");
        await h.BindAsync(h.Api, installation);

        var row = await h.WaitForDeliveryAsync(await h.SendAsync("installation", InstallationEvent("new_permissions_accepted", installation)));

        Assert.Equal($"Installation {installation.Id} new permissions accepted: permissions of 1 binding(s) refreshed.", row.OutcomeMessage);
    }

    [Fact]
    public async Task A_repository_action_with_nothing_to_do_is_named_in_GitHubs_words()
    {
        var c = await h.ConnectRepoAsync(h.Api, "edited-words");
        var payload = GitHubHarness.SharedPayload("repository/edited.with-default_branch-edit.payload.json");
        GitHubHarness.AdaptRepository(payload["repository"]!, c.Repo);
        payload["changes"] = new JsonObject { ["description"] = new JsonObject { ["from"] = "Old words." } }; // not the default branch

        var row = await h.WaitForDeliveryAsync(await h.SendAsync("repository", payload.ToJsonString()));

        Assert.Equal("Repository edited: nothing to do.", row.OutcomeMessage);
    }

    [Fact]
    public async Task A_created_branch_says_publishing_follows_its_push()
    {
        var c = await h.ConnectRepoAsync(h.Api, "branch-created");

        var row = await h.WaitForDeliveryAsync(await h.SendAsync("create", h.GitHub.Payloads.Create(c.Repo, "feature/tables", "branch")));

        Assert.Equal("The branch feature/tables was created: publishing follows its push, not its creation.", row.OutcomeMessage);
    }

    [Fact]
    public async Task A_tags_create_event_after_its_push_says_the_push_already_queued_the_publish()
    {
        var c = await h.ConnectRepoAsync(h.Api, "tag-echo");
        var push = await h.WaitForDeliveryAsync(await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1.0.0", c.Sha));
        Assert.Equal("Tag v1.0.0: 1 attempt(s) queued.", push.OutcomeMessage);

        var create = await h.WaitForDeliveryAsync(await h.SendAsync("create", h.GitHub.Payloads.Create(c.Repo, "v1.0.0")));

        Assert.Equal("Tag v1.0.0: already queued by GitHub's push event for this tag; nothing more to publish.", create.OutcomeMessage);
        Assert.Single(await h.AttemptsAsync(c.ConnectionId), a => a.Trigger == AttemptTrigger.Tag);
    }
}
