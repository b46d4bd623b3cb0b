using SelfTune.Admin.GitHub.Webhooks;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>Issue 9, item 4: one table of the webhook events the app handles, and paused reasons matched by kind.</summary>
public sealed class WebhookEventsTests
{
    [Fact]
    public void The_table_gives_the_handled_events_and_the_replay_rules()
    {
        Assert.Equal(["push", "create", "pull_request", "installation", "installation_repositories", "repository", "ping"],
            WebhookEvents.Table.Select(e => e.Name));
        Assert.True(WebhookEvents.IsHandled("installation_repositories"));
        Assert.False(WebhookEvents.IsHandled("issues"));
        Assert.True(DeliveryService.ReplayableEvents.SetEquals(["push", "create", "pull_request"]));
        Assert.True(DeliveryService.StateChangingEvents.SetEquals(["installation", "installation_repositories", "repository"]));
        Assert.True(WebhookProcessor.HandledEvents.SetEquals(WebhookEvents.All.Keys));
    }

    [Fact]
    public void Replay_refusals_keep_their_words()
    {
        Assert.Null(WebhookEvents.ReplayRefusal("push"));
        Assert.Equal("Replaying a 'ping' delivery would do nothing; only push, create and pull_request deliveries can be replayed.",
            WebhookEvents.ReplayRefusal("ping"));
        Assert.StartsWith("'repository' deliveries cannot be replayed", WebhookEvents.ReplayRefusal("repository"));
        Assert.Equal("SelfTune does not act on 'issues' events; replaying it would do nothing.", WebhookEvents.ReplayRefusal("issues"));
    }

    [Fact]
    public void Paused_reasons_are_read_back_by_kind()
    {
        Assert.Equal(PauseKind.RepositoryRemoved, PauseReasons.KindOf(PauseReasons.RepositoryRemoved("acme/skills")));
        Assert.Equal(PauseKind.Suspended, PauseReasons.KindOf(PauseReasons.SuspendedReason));
        Assert.Equal(PauseKind.Uninstalled, PauseReasons.KindOf(PauseReasons.Uninstalled("acme")));
        Assert.Equal("repository acme/old was removed from the GitHub App installation", PauseReasons.RepositoryRemoved("acme/old"));
        Assert.Null(PauseReasons.KindOf("paused by hand"));
        Assert.Null(PauseReasons.KindOf(null));
    }
}
