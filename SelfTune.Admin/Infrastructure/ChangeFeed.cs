using SelfTune.Admin.GitHub.Webhooks;

namespace SelfTune.Admin.Infrastructure;

/// <summary>What kind of row a <see cref="Change"/> is about.</summary>
public enum ChangeKind
{
    /// <summary>A publish attempt was created, started or finished; <see cref="Change.Id"/> is the attempt.</summary>
    Attempt,
    /// <summary>
    /// A webhook delivery was stored, processed, failed or replayed; <see cref="Change.Id"/> is the delivery. A delivery
    /// belongs to no one org (every org that bound its installation or connected its repository sees it), so its change
    /// names no org but the GitHub installation and repository it came from; see <see cref="Change.OfDelivery"/>.
    /// </summary>
    Delivery,
    /// <summary>An API key was created, used or revoked; <see cref="Change.Id"/> is the key when known.</summary>
    ApiKey,
    /// <summary>
    /// A registry entry changed: a version was published to it (its latest, its versions); <see cref="Change.Id"/> is the
    /// entry, which is what the registry pages show and re-read.
    /// </summary>
    Entry,
}

/// <summary>
/// News that something changed: whose, what kind, and the ids of what changed — never the data itself, so a subscriber
/// re-reads what it shows (only the changed rows, where it can), and publishing costs nothing when nobody listens (no
/// database read to find an audience). Ids only, so that a later implementation can carry changes between instances
/// (e.g. PostgreSQL LISTEN/NOTIFY) unchanged.
/// </summary>
/// <param name="OrgId">
/// The org whose data changed; null for a change from GitHub that concerns whichever orgs see its
/// <paramref name="InstallationId"/> or <paramref name="RepositoryId"/> (a webhook delivery). Every subscriber of the
/// kind hears an org-less change and decides from those ids (<see cref="IsFrom"/>), or by re-reading, whether it concerns it.
/// </param>
/// <param name="Kind">What changed.</param>
/// <param name="Id">The changed row (attempt, delivery, key, entry), when known.</param>
/// <param name="ConnectionId">The connection the change belongs to, when it belongs to one (an attempt).</param>
/// <param name="ExternalId">GitHub's id of the change, where pages match on it (a delivery's X-GitHub-Delivery).</param>
/// <param name="InstallationId">The GitHub App installation a change from GitHub came through.</param>
/// <param name="RepositoryId">GitHub's id of the repository a change from GitHub is about.</param>
/// <param name="Event">A delivery's GitHub event (<c>push</c>, <c>check_run</c>): whether it can change what a page shows.</param>
public sealed record Change(
    Guid? OrgId, ChangeKind Kind, Guid? Id = null, Guid? ConnectionId = null, string? ExternalId = null,
    long? InstallationId = null, long? RepositoryId = null, string? Event = null)
{
    /// <summary>An attempt was created, started or finished.</summary>
    public static Change OfAttempt(PublishAttempt attempt) => new(attempt.OrgId, ChangeKind.Attempt, attempt.Id, attempt.ConnectionId);

    /// <summary>An org's API key was created, used or revoked.</summary>
    public static Change OfApiKey(Guid orgId, Guid? keyId = null) => new(orgId, ChangeKind.ApiKey, keyId);

    /// <summary>A version was published to <paramref name="entry"/>.</summary>
    public static Change OfEntry(RegistryEntry entry) => new(entry.OrgId, ChangeKind.Entry, entry.Id);

    /// <summary>A webhook delivery was stored, processed, failed or replayed (no org: see <see cref="ChangeKind.Delivery"/>).</summary>
    public static Change OfDelivery(WebhookDelivery delivery) =>
        new(null, ChangeKind.Delivery, delivery.Id, null, delivery.DeliveryId, delivery.InstallationId, delivery.RepositoryId, delivery.Event);

    /// <summary>
    /// Whether this change can have changed a connection or an installation binding: any change but a delivery, and a
    /// delivery of an event that changes their state (<see cref="ReplayRule.StateChanging"/>: installation,
    /// installation_repositories, repository) or of no event named (a re-sync; news from an instance that names none).
    /// What a push or tag does to a connection arrives as its attempts' news; a check_run an App's write-back brings back
    /// (several per publish) changes nothing a connections list shows.
    /// </summary>
    public bool MayChangeConnections => Kind != ChangeKind.Delivery || Event is null || WebhookEvents.ReplayRuleOf(Event) == ReplayRule.StateChanging;

    /// <summary>
    /// A change that names nothing: something of its kind may have changed unseen (a feed that crosses instances lost its
    /// connection and cannot tell what it missed), so a page re-reads all it shows.
    /// </summary>
    public bool IsResync => Id is null && ConnectionId is null && ExternalId is null && InstallationId is null && RepositoryId is null;

    /// <summary>Whether this change came through one of <paramref name="installationIds"/> or is about one of <paramref name="repositoryIds"/>.</summary>
    public bool IsFrom(IEnumerable<long> installationIds, IEnumerable<long> repositoryIds) =>
        (InstallationId is { } installation && installationIds.Contains(installation))
        || (RepositoryId is { } repository && repositoryIds.Contains(repository));
}

/// <summary>
/// The one change feed of the app: services publish a <see cref="Change"/> after they saved it; pages (and tests)
/// subscribe for one org and some kinds, and dispose the subscription when they go. Publishing never fails and never
/// waits for a subscriber: a subscriber that throws is logged and skipped, and the others still hear the change.
/// Pages use <see cref="ChangeFeedExtensions.Watch"/>, which also marshals onto the component's dispatcher and
/// coalesces bursts.
/// </summary>
public interface IChangeFeed
{
    /// <summary>Tells every subscriber of the change's org (every org, for an org-less change) and kind; returns at once, never throws.</summary>
    void Publish(Change change);

    /// <summary>
    /// Calls <paramref name="handler"/> (on the publisher's thread; keep it short) for each change of
    /// <paramref name="orgId"/>, or of no org, whose kind is one of <paramref name="kinds"/>, until the result is disposed.
    /// </summary>
    IDisposable Subscribe(Guid orgId, IReadOnlyCollection<ChangeKind> kinds, Action<Change> handler);
}

/// <summary>The feed within one process: subscribers in memory, called synchronously by the publisher.</summary>
public sealed class InProcessChangeFeed(ILogger<InProcessChangeFeed> log) : IChangeFeed
{
    readonly Lock gate = new();
    Subscription[] subscriptions = [];

    public void Publish(Change change)
    {
        foreach (var s in Volatile.Read(ref subscriptions))
        {
            if ((change.OrgId is { } org && s.OrgId != org) || !s.Kinds.Contains(change.Kind)) continue;
            try { s.Handler(change); }
            catch (Exception e) { log.LogWarning(e, "A subscriber to {Kind} changes failed.", change.Kind); }
        }
    }

    public IDisposable Subscribe(Guid orgId, IReadOnlyCollection<ChangeKind> kinds, Action<Change> handler)
    {
        var s = new Subscription(this, orgId, kinds.ToHashSet(), handler);
        lock (gate) subscriptions = [.. subscriptions, s];
        return s;
    }

    void Remove(Subscription s)
    {
        lock (gate) subscriptions = subscriptions.Where(x => x != s).ToArray();
    }

    sealed class Subscription(InProcessChangeFeed feed, Guid orgId, HashSet<ChangeKind> kinds, Action<Change> handler) : IDisposable
    {
        public Guid OrgId => orgId;
        public HashSet<ChangeKind> Kinds => kinds;
        public Action<Change> Handler => handler;
        public void Dispose() => feed.Remove(this);
    }
}

public static class ChangeFeedExtensions
{
    /// <summary>Least time between the starts of two calls of one watch (wall time: this paces a screen, not business rules).</summary>
    public static readonly TimeSpan WatchSpacing = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Least time between the starts of two calls once a steady stream has lasted <see cref="StreamCalls"/> calls (about a
    /// second): a page under a stream of changes (an org publishing many repositories at once) shows them once a second.
    /// </summary>
    public static readonly TimeSpan StreamSpacing = TimeSpan.FromSeconds(1);

    /// <summary>Calls in a row, each with changes that came while the one before ran or waited, after which <see cref="StreamSpacing"/> applies.</summary>
    public const int StreamCalls = 4;

    /// <summary>
    /// The subscription a page makes: changes of <paramref name="orgId"/> and <paramref name="kinds"/> reach
    /// <paramref name="onChanges"/> on the component's dispatcher (<paramref name="invokeAsync"/>, the component's
    /// <c>InvokeAsync</c>), one call at a time and calls at least <see cref="WatchSpacing"/> apart; changes that arrive
    /// while a call runs or waits its turn are passed together to one more call. <paramref name="onChanges"/> gets the changes, so it can ignore ones it does not show and re-read only
    /// the rows named; it re-reads and calls <c>StateHasChanged</c> itself. Its exceptions go to
    /// <paramref name="onError"/> (on the dispatcher), or are dropped. Dispose the result when the page is disposed.
    /// </summary>
    public static IDisposable Watch(this IChangeFeed feed, Guid orgId, IReadOnlyCollection<ChangeKind> kinds,
        Func<Func<Task>, Task> invokeAsync, Func<IReadOnlyList<Change>, Task> onChanges, Action<Exception>? onError = null)
    {
        var batcher = new ChangeBatcher(invokeAsync, onChanges, onError);
        var subscription = feed.Subscribe(orgId, kinds, batcher.Add);
        return new Both(subscription, batcher);
    }

    sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose()
        {
            first.Dispose();
            second.Dispose();
        }
    }
}

/// <summary>
/// Turns changes (raised on any thread, possibly in bursts) into calls on a component's dispatcher: at most one call
/// runs at a time, calls start at least <see cref="ChangeFeedExtensions.WatchSpacing"/> apart, and changes arriving meanwhile coalesce into one
/// more call with all of them. The first change after a quiet spell is passed on at once; under a steady stream (an org
/// publishing many repositories) a page re-reads at most four times a second for the stream's first second, then once a
/// second (<see cref="ChangeFeedExtensions.StreamSpacing"/>) until a spacing passes with no change, however many come,
/// so an open page costs the server little per change (issue 12: CPU per publish with a page open), and a long burst (a
/// whole installation re-synced) one re-read a second per open page, not four for as long as it lasts.
/// </summary>
sealed class ChangeBatcher(Func<Func<Task>, Task> invokeAsync, Func<IReadOnlyList<Change>, Task> onChanges, Action<Exception>? onError) : IDisposable
{
    readonly Lock gate = new();
    List<Change> pending = [];
    bool running, disposed;
    long lastCallAt = long.MinValue / 2; // Environment.TickCount64 of the last call's start
    int streak; // calls in a row whose changes came while the one before ran or waited: the stream's length so far

    /// <summary>Queues a change; returns at once (safe to call from a publisher's thread).</summary>
    public void Add(Change change)
    {
        lock (gate)
        {
            if (disposed) return;
            pending.Add(change);
            if (running) return;
            running = true;
        }
        _ = RunAsync();
    }

    async Task RunAsync()
    {
        for (var inStream = false; ; inStream = true)
        {
            var spacing = streak >= ChangeFeedExtensions.StreamCalls ? ChangeFeedExtensions.StreamSpacing : ChangeFeedExtensions.WatchSpacing;
            long wait; // changes gather meanwhile; read again, as a timer may fire a tick early by this clock
            while ((wait = lastCallAt + (long)spacing.TotalMilliseconds - Environment.TickCount64) > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(wait));
            List<Change> batch;
            lock (gate)
            {
                if (pending.Count == 0 || disposed)
                {
                    running = false;
                    pending = [];
                    streak = 0; // a spacing passed with no change: the stream, if any, is over
                    return;
                }
                batch = pending;
                pending = [];
            }
            streak = inStream ? streak + 1 : 0;
            lastCallAt = Environment.TickCount64;
            try
            {
                await invokeAsync(() => onChanges(batch));
            }
            catch (Exception e)
            {
                bool report;
                lock (gate) report = !disposed;
                if (report && onError is not null)
                {
                    try { await invokeAsync(() => { onError(e); return Task.CompletedTask; }); }
                    catch (Exception) { } // the circuit is gone
                }
            }
        }
    }

    public void Dispose()
    {
        lock (gate) disposed = true;
    }
}
