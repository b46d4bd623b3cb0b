namespace SelfTune.Admin.Infrastructure;

/// <summary>What kind of row a <see cref="Change"/> is about.</summary>
public enum ChangeKind
{
    /// <summary>A publish attempt was created, started or finished; <see cref="Change.Id"/> is the attempt.</summary>
    Attempt,
    /// <summary>A webhook delivery was stored, processed, failed or replayed; <see cref="Change.Id"/> is the delivery.</summary>
    Delivery,
    /// <summary>An API key was created, used or revoked; <see cref="Change.Id"/> is the key when known.</summary>
    ApiKey,
}

/// <summary>
/// News that something of an org changed: which org, what kind, and the ids of what changed — never the data itself,
/// so a subscriber re-reads what it shows (only the changed rows, where it can). Ids only, so that a later
/// implementation can carry changes between instances (e.g. PostgreSQL LISTEN/NOTIFY) unchanged.
/// </summary>
/// <param name="OrgId">The org whose data changed. A change that concerns several orgs is published once per org.</param>
/// <param name="Kind">What changed.</param>
/// <param name="Id">The changed row (attempt, delivery, key), when known.</param>
/// <param name="ConnectionId">The connection the change belongs to, when it belongs to one (an attempt; a delivery for a connected repository).</param>
/// <param name="ExternalId">GitHub's id of the change, where pages match on it (a delivery's X-GitHub-Delivery).</param>
public sealed record Change(Guid OrgId, ChangeKind Kind, Guid? Id = null, Guid? ConnectionId = null, string? ExternalId = null);

/// <summary>
/// The one change feed of the app: services publish a <see cref="Change"/> after they saved it; pages (and tests)
/// subscribe for one org and some kinds, and dispose the subscription when they go. Publishing never fails and never
/// waits for a subscriber: a subscriber that throws is logged and skipped, and the others still hear the change.
/// Pages use <see cref="ChangeFeedExtensions.Watch"/>, which also marshals onto the component's dispatcher and
/// coalesces bursts.
/// </summary>
public interface IChangeFeed
{
    /// <summary>Tells every subscriber of the change's org and kind; returns at once, never throws.</summary>
    void Publish(Change change);

    /// <summary>
    /// Calls <paramref name="handler"/> (on the publisher's thread; keep it short) for each change of
    /// <paramref name="orgId"/> whose kind is one of <paramref name="kinds"/>, until the result is disposed.
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
            if (s.OrgId != change.OrgId || !s.Kinds.Contains(change.Kind)) continue;
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
    /// <summary>
    /// The subscription a page makes: changes of <paramref name="orgId"/> and <paramref name="kinds"/> reach
    /// <paramref name="onChanges"/> on the component's dispatcher (<paramref name="invokeAsync"/>, the component's
    /// <c>InvokeAsync</c>), one call at a time; changes that arrive while a call runs are passed together to one more
    /// call. <paramref name="onChanges"/> gets the changes, so it can ignore ones it does not show and re-read only
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
/// runs at a time, and changes arriving during a call coalesce into one more call with all of them.
/// </summary>
sealed class ChangeBatcher(Func<Func<Task>, Task> invokeAsync, Func<IReadOnlyList<Change>, Task> onChanges, Action<Exception>? onError) : IDisposable
{
    readonly Lock gate = new();
    List<Change> pending = [];
    bool running, disposed;

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
        while (true)
        {
            List<Change> batch;
            lock (gate)
            {
                if (pending.Count == 0 || disposed)
                {
                    running = false;
                    pending = [];
                    return;
                }
                batch = pending;
                pending = [];
            }
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
