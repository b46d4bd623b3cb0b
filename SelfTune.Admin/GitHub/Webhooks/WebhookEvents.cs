namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>What replaying a stored delivery of an event would do.</summary>
public enum ReplayRule
{
    /// <summary>The app does not act on the event; replaying it would do nothing.</summary>
    NotHandled,

    /// <summary>Processing only queues (idempotent) publishes for the replaying org's connections: replay is allowed.</summary>
    Replayable,

    /// <summary>The event changes installation or connection state; replaying an old one would re-apply old state.</summary>
    StateChanging,

    /// <summary>Handled, but processing it again does nothing (ping).</summary>
    Pointless,
}

/// <summary>One webhook event the app acts on, and the actions of it that do something (null: every action is looked at).</summary>
public sealed record WebhookEvent(string Name, ReplayRule Replay, IReadOnlySet<string>? Actions = null)
{
    public bool Handled => Replay != ReplayRule.NotHandled;
}

/// <summary>
/// The one table of the webhook events SelfTune handles (SPEC section 8). The receiver keeps the payload of these only,
/// <see cref="WebhookProcessor"/> has an override for each, and the replay rules come from <see cref="WebhookEvent.Replay"/>.
/// </summary>
public static class WebhookEvents
{
    public static readonly WebhookEvent Push = new("push", ReplayRule.Replayable);
    public static readonly WebhookEvent Create = new("create", ReplayRule.Replayable);
    public static readonly WebhookEvent PullRequest = new("pull_request", ReplayRule.Replayable, new HashSet<string>(["opened", "synchronize", "reopened"]));
    public static readonly WebhookEvent Installation = new("installation", ReplayRule.StateChanging,
        new HashSet<string>(["created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"]));
    public static readonly WebhookEvent InstallationRepositories = new("installation_repositories", ReplayRule.StateChanging, new HashSet<string>(["added", "removed"]));
    public static readonly WebhookEvent Repository = new("repository", ReplayRule.StateChanging, new HashSet<string>(["renamed", "transferred", "edited"]));
    public static readonly WebhookEvent Ping = new("ping", ReplayRule.Pointless);

    /// <summary>Every handled event, in the order lists show them.</summary>
    public static readonly IReadOnlyList<WebhookEvent> Table = [Push, Create, PullRequest, Installation, InstallationRepositories, Repository, Ping];

    /// <summary>Every handled event by name.</summary>
    public static readonly IReadOnlyDictionary<string, WebhookEvent> All = Table.ToDictionary(e => e.Name, StringComparer.Ordinal);

    /// <summary>The handled event of that name, or null when the app does not act on it.</summary>
    public static WebhookEvent? Find(string eventName) => All.GetValueOrDefault(eventName);

    /// <summary>Whether the webhook job acts on this event at all (others are stored as ignored, without their payload).</summary>
    public static bool IsHandled(string eventName) => All.ContainsKey(eventName);

    public static ReplayRule ReplayRuleOf(string eventName) => Find(eventName)?.Replay ?? ReplayRule.NotHandled;

    /// <summary>Names of the events with <paramref name="rule"/>, in table order.</summary>
    public static IReadOnlyList<string> Named(ReplayRule rule) => Table.Where(e => e.Replay == rule).Select(e => e.Name).ToList();

    /// <summary>The outcome message of a delivery of an event the app does not act on.</summary>
    public static string NotHandledMessage(string eventName) => $"SelfTune does not act on '{eventName}' events.";

    /// <summary>Why a delivery of <paramref name="eventName"/> cannot be replayed, or null when it can.</summary>
    public static string? ReplayRefusal(string eventName) => ReplayRuleOf(eventName) switch
    {
        ReplayRule.Replayable => null,
        ReplayRule.StateChanging =>
            $"'{eventName}' deliveries cannot be replayed: they change installation and connection state, and replaying an old one would re-apply old state over what happened since.",
        ReplayRule.Pointless =>
            $"Replaying a '{eventName}' delivery would do nothing; only {string.Join(", ", Named(ReplayRule.Replayable).SkipLast(1))} and {Named(ReplayRule.Replayable).Last()} deliveries can be replayed.",
        _ => $"SelfTune does not act on '{eventName}' events; replaying it would do nothing.",
    };
}
