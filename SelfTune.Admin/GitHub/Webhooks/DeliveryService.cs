namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// The webhook deliveries an org may see, and replay. A delivery carries no org: it belongs to every org that bound its
/// installation, or that has a connection to its repository. Each call uses its own DbContext (safe for pages).
/// </summary>
public sealed class DeliveryService(
    IDbContextFactory<AdminDbContext> dbFactory, DeliveryIngest ingest, TimeProvider clock)
{
    public const string ReplaySeparator = ":replay-";

    /// <summary>
    /// What a list shows. <paramref name="Repository"/> is an exact <c>owner/name</c>. <paramref name="OperatorView"/> with
    /// <see cref="DeliveryOutcome.Rejected"/> lists every rejected delivery: they carry no org, so only operators see them.
    /// </summary>
    public sealed record Filter(string? Event = null, DeliveryOutcome? Outcome = null, string? Search = null, string? Repository = null, bool OperatorView = false);

    /// <summary>The cursor list name of the API's deliveries list.</summary>
    public const string DeliveriesList = "deliveries";

    /// <summary>
    /// A delivery without its payload (which may be megabytes), for lists. <paramref name="OutcomeMessage"/> is the final
    /// result once the attempts it created for the org's connections have finished (<see cref="FinalResult"/>);
    /// <paramref name="Result"/> is what those attempts came to (queued or running while one still works), null when it
    /// created none for the org. <paramref name="RecoveredAt"/>: when the app asked GitHub to redeliver it after GitHub
    /// failed to hand it over (<see cref="DeliveryRecoveryService"/>); null otherwise.
    /// </summary>
    public sealed record Summary(
        Guid Id, string DeliveryId, string Event, string? Action, long? InstallationId, string? RepositoryFullName,
        DateTimeOffset ReceivedAt, DeliveryOutcome Outcome, string? OutcomeMessage, AttemptStatus? Result = null, DateTimeOffset? RecoveredAt = null)
    {
        public bool Recovered => RecoveredAt is not null;
    }

    /// <summary>One attempt a delivery created, as much as its final result says of it.</summary>
    public sealed record AttemptResult(string DeliveryId, AttemptStatus Status, AttemptTrigger Trigger, string? Version, string? Message, string? EntryName);

    /// <summary>
    /// What a processed delivery came to for the org: the status its attempts sum up to (a failure first, then a publish,
    /// a skip, unchanged; queued or running while one still works) and, once all have finished, one sentence for each
    /// ("Published 1.2.0 to my-skill.", "Failed to publish to my-skill: why."). While one still works, and when the
    /// delivery created no attempt for the org, the processing message stays: what it queued, or why it queued nothing.
    /// The one place delivery results are worded (the Deliveries pages and API show it).
    /// </summary>
    public static (AttemptStatus? Result, string? Message) FinalResult(string? processingMessage, IReadOnlyCollection<AttemptResult> attempts)
    {
        if (attempts.Count == 0) return (null, processingMessage);
        if (attempts.FirstOrDefault(a => a.Status is AttemptStatus.Queued or AttemptStatus.Running) is { } working)
            return (attempts.Any(a => a.Status == AttemptStatus.Running) ? AttemptStatus.Running : working.Status, processingMessage);
        AttemptStatus[] order = [AttemptStatus.Failed, AttemptStatus.Published, AttemptStatus.Skipped, AttemptStatus.Unchanged];
        var result = order.First(s => attempts.Any(a => a.Status == s));
        return (result, string.Join(" ", attempts.Select(Sentence)));

        static string Sentence(AttemptResult a)
        {
            var entry = a.EntryName ?? "a deleted connection's entry";
            var why = (a.Message ?? "").Trim();
            if (why.StartsWith("Skipped: ", StringComparison.Ordinal)) why = why["Skipped: ".Length..];
            if (why.Length > 0 && !why.EndsWith('.')) why += ".";
            return a.Status switch
            {
                AttemptStatus.Published => $"Published {a.Version} to {entry}.",
                AttemptStatus.Unchanged => $"Unchanged: {a.Version} of {entry} is already published from the same content.",
                AttemptStatus.Failed => $"Failed to publish to {entry}: {why}",
                _ when a.Trigger == AttemptTrigger.PullRequest => $"{entry}: {why}",
                _ => $"Not published to {entry}: {why}",
            };
        }
    }

    /// <summary>
    /// <paramref name="items"/> with their <see cref="FinalResult"/> for the org, in one query: the org's attempts created
    /// since the oldest of them arrived (the (OrgId, CreatedAt) index; a margin for clocks of other instances) with their
    /// delivery ids.
    /// </summary>
    static async Task<List<Summary>> WithResultsAsync(AdminDbContext db, Guid orgId, List<Summary> items, CancellationToken ct)
    {
        var processed = items.Where(i => i.Outcome == DeliveryOutcome.Processed).ToList();
        if (processed.Count == 0) return items;
        var ids = processed.Select(i => i.DeliveryId).ToList();
        var since = processed.Min(i => i.ReceivedAt) - TimeSpan.FromMinutes(5);
        var attempts = (await db.Attempts.AsNoTracking()
            .Where(a => a.OrgId == orgId && a.CreatedAt >= since && a.DeliveryId != null && ids.Contains(a.DeliveryId!))
            .OrderBy(a => a.CreatedAt)
            .Select(a => new AttemptResult(a.DeliveryId!, a.Status, a.Trigger, a.Version, a.Message,
                db.Connections.Where(c => c.Id == a.ConnectionId).Select(c => c.Entry!.Name).FirstOrDefault()))
            .ToListAsync(ct)).ToLookup(a => a.DeliveryId);
        return items.Select(i =>
        {
            if (i.Outcome != DeliveryOutcome.Processed) return i;
            var (result, message) = FinalResult(i.OutcomeMessage, attempts[i.DeliveryId].ToList());
            return i with { Result = result, OutcomeMessage = message };
        }).ToList();
    }

    /// <summary>The list projection: the recovery is a correlated look-up by GUID in the same query, not a query per row.</summary>
    static System.Linq.Expressions.Expression<Func<WebhookDelivery, Summary>> Summarize(AdminDbContext db) =>
        d => new Summary(d.Id, d.DeliveryId, d.Event, d.Action, d.InstallationId, d.RepositoryFullName, d.ReceivedAt, d.Outcome, d.OutcomeMessage, null,
            db.DeliveryRecoveries.Where(r => r.DeliveryId == d.DeliveryId && r.Error == null).Select(r => (DateTimeOffset?)r.RequestedAt).FirstOrDefault());

    /// <summary>How many of the org's deliveries since <paramref name="since"/> came back through a recovery.</summary>
    public async Task<int> RecoveredSinceAsync(Guid orgId, DateTimeOffset since, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // A redelivery arrives after it was asked for: only deliveries received since then can count.
        return await VisibleTo(db, orgId).Where(d => d.ReceivedAt >= since)
            .CountAsync(d => db.DeliveryRecoveries.Any(r => r.DeliveryId == d.DeliveryId && r.Error == null && r.RequestedAt >= since), ct);
    }

    /// <summary>A page of deliveries, the total the filter matches, and the event names when asked for (<see cref="ListAsync(Guid, Filter, int, int, bool, CancellationToken)"/>).</summary>
    public sealed record Page(List<Summary> Items, int Total, List<string>? Events = null);

    public sealed record EventCount(string Event, int Count);

    /// <summary>
    /// How many deliveries of each event name the org sees: the Deliveries page's filter and, unfiltered, its total.
    /// Read from the index IX_Deliveries_Counts, never the table (the index says why); a column tested here must be in it.
    /// </summary>
    public static IQueryable<EventCount> CountsPerEvent(AdminDbContext db, Guid orgId) =>
        VisibleTo(db, orgId).GroupBy(d => d.Event).Select(g => new EventCount(g.Key, g.Count()));

    public static IQueryable<WebhookDelivery> VisibleTo(AdminDbContext db, Guid orgId)
    {
        var installations = db.Installations.Where(i => i.OrgId == orgId).Select(i => (long?)i.InstallationId);
        var repositories = db.Connections.Where(c => c.OrgId == orgId).Select(c => (long?)c.RepoId);
        // A replay belongs to the org that made it (it acted for that org alone), not to every org bound to its installation.
        return db.Deliveries.AsNoTracking()
            .Where(d => d.ReplayedByOrgId == orgId
                        || (d.ReplayedByOrgId == null && (installations.Contains(d.InstallationId) || repositories.Contains(d.RepositoryId))));
    }

    static IQueryable<WebhookDelivery> Filtered(AdminDbContext db, Guid orgId, Filter filter)
    {
        var query = filter is { OperatorView: true, Outcome: DeliveryOutcome.Rejected }
            ? db.Deliveries.AsNoTracking()
            : VisibleTo(db, orgId);
        if (!string.IsNullOrWhiteSpace(filter.Event)) query = query.Where(d => d.Event == filter.Event);
        if (filter.Outcome is { } outcome) query = query.Where(d => d.Outcome == outcome);
        if (!string.IsNullOrWhiteSpace(filter.Repository)) query = query.Where(d => d.RepositoryFullName == filter.Repository);
        if (!string.IsNullOrWhiteSpace(filter.Search))
        {
            var like = "%" + EscapeLike(filter.Search.Trim()) + "%";
            query = query.Where(d => EF.Functions.Like(d.DeliveryId, like, "\\")
                                     || (d.RepositoryFullName != null && EF.Functions.Like(d.RepositoryFullName, like, "\\")));
        }
        return query;
    }

    /// <summary>
    /// Newest first (received_at, then id); <paramref name="page"/> counts from 0. <paramref name="withEvents"/>: also the
    /// event names among every delivery the org sees (<see cref="Page.Events"/>), for the page's filter.
    /// </summary>
    /// <remarks>
    /// The event names and, unfiltered, the total come from one read, a count per event name (one scan of every delivery
    /// the org sees, not one for the total and one for the names). It reads the index IX_Deliveries_Counts, not the table,
    /// as does an event or outcome filter's count; a repository or search filter's count reads the table. That read and
    /// the rows are read side by side, each on a context of its
    /// own: on PostgreSQL two server processes then work at once, and the page waits for the longer read, not for both.
    /// </remarks>
    public async Task<Page> ListAsync(Guid orgId, Filter filter, int page, int pageSize, bool withEvents = false, CancellationToken ct = default)
    {
        var unfiltered = string.IsNullOrWhiteSpace(filter.Event) && filter.Outcome is null && string.IsNullOrWhiteSpace(filter.Repository)
                         && string.IsNullOrWhiteSpace(filter.Search);
        var perEvent = withEvents ? CountPerEventAsync() : null;
        var total = perEvent is not null && unfiltered ? null : CountAsync();
        var items = RowsAsync();
        await Task.WhenAll(new Task?[] { perEvent, total, items }.OfType<Task>()); // a failure of any is thrown here, none left unobserved
        var counts = perEvent is null ? null : await perEvent;
        return new Page(await items, total is null ? counts!.Sum(c => c.Count) : await total,
            counts?.Select(c => c.Event).Order(StringComparer.Ordinal).ToList());

        async Task<List<EventCount>> CountPerEventAsync()
        {
            await using var db = await dbFactory.CreateDbContextAsync(ct);
            return await CountsPerEvent(db, orgId).ToListAsync(ct);
        }

        async Task<int> CountAsync()
        {
            await using var db = await dbFactory.CreateDbContextAsync(ct);
            return await Filtered(db, orgId, filter).CountAsync(ct);
        }

        async Task<List<Summary>> RowsAsync()
        {
            await using var db = await dbFactory.CreateDbContextAsync(ct);
            var items = await Filtered(db, orgId, filter).OrderByDescending(d => d.ReceivedAt).ThenByDescending(d => d.Id)
                .Skip(Math.Max(0, page) * pageSize).Take(pageSize)
                .Select(Summarize(db))
                .ToListAsync(ct);
            return await WithResultsAsync(db, orgId, items, ct);
        }
    }

    /// <summary>
    /// The unfiltered first page again, for a page that stays open, with its total grown from <paramref name="shown"/>'s
    /// without counting every delivery of the org (12 ms at 50,000): the deliveries an org sees are never deleted
    /// (retention prunes payloads, and rejected deliveries, which name no org), so the total grew by those that sort before
    /// the newest shown (a count over the newest end of the received_at index) and by those now on the page after it that
    /// were not shown before (one stored with the same time; an older delivery cannot enter the first page, new ones only
    /// push rows down). One stored late with an earlier time below the page is left to the caller's next full count.
    /// </summary>
    public async Task<Page> NewestAsync(Guid orgId, Page shown, int pageSize, CancellationToken ct = default)
    {
        if (shown.Items is not [var newest, ..]) throw new ArgumentException("A page with no deliveries has no newest to count from.", nameof(shown));
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = VisibleTo(db, orgId);
        var items = await query.OrderByDescending(d => d.ReceivedAt).ThenByDescending(d => d.Id).Take(pageSize)
            .Select(Summarize(db))
            .ToListAsync(ct);
        if (items.Count == 0) return new Page(items, 0); // none visible any more (an installation unbound meanwhile)
        // Counted after the page is read, and only up to its top: the two reads see the table at different moments, and a
        // delivery stored between them is then neither shown nor counted now, but counted by the next update (whose newest
        // shown is this top). Counted first, one stored between the reads was shown without being counted, and lost from
        // the total for good (PostgreSQL, a burst of deliveries while the page was open).
        var (newestAt, newestId, topAt, topId) = (newest.ReceivedAt, newest.Id, items[0].ReceivedAt, items[0].Id);
        var newer = await query.Where(d => d.ReceivedAt >= newestAt && d.ReceivedAt <= topAt)
            .CountAsync(d => (d.ReceivedAt > newestAt || d.Id.CompareTo(newestId) > 0) && (d.ReceivedAt < topAt || d.Id.CompareTo(topId) <= 0), ct);
        var before = shown.Items.Select(i => i.Id).ToHashSet();
        var at = items.FindIndex(i => i.Id == newestId);
        var newBelow = at < 0 ? 0 : items.Skip(at + 1).Count(i => !before.Contains(i.Id));
        return new Page(await WithResultsAsync(db, orgId, items, ct), shown.Total + newer + newBelow);
    }

    /// <summary>The API's list: newest first (received_at, then id), keyset-paged.</summary>
    public async Task<Page<Summary>> ListAsync(Guid orgId, Filter filter, PageRequest page, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = Filtered(db, orgId, filter);
        if (page.AfterTimeAndId() is (var at, var afterId))
            query = query.Where(d => d.ReceivedAt < at || (d.ReceivedAt == at && d.Id.CompareTo(afterId) < 0));
        var rows = await query.OrderByDescending(d => d.ReceivedAt).ThenByDescending(d => d.Id).Take(page.Limit + 1)
            .Select(Summarize(db))
            .ToListAsync(ct);
        rows = await WithResultsAsync(db, orgId, rows, ct);
        return page.ToPage(rows, DeliveriesList, d => PageRequest.TimeAndIdKey(d.ReceivedAt, d.Id));
    }

    /// <summary>The delivery with its payload, or null when there is none the org may see.</summary>
    public async Task<WebhookDelivery?> GetAsync(Guid orgId, Guid id, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await VisibleTo(db, orgId).SingleOrDefaultAsync(d => d.Id == id, ct);
    }

    /// <summary>The delivery without its payload, by row id or by GitHub's delivery id; null when the org may not see it.</summary>
    public async Task<Summary?> FindAsync(Guid orgId, Guid? id = null, string? deliveryId = null, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = VisibleTo(db, orgId);
        query = id is { } rowId ? query.Where(d => d.Id == rowId) : query.Where(d => d.DeliveryId == deliveryId);
        var found = await query.Select(Summarize(db))
            .SingleOrDefaultAsync(ct);
        return found is null ? null : (await WithResultsAsync(db, orgId, [found], ct))[0];
    }

    /// <summary>Replays of the delivery (<c>{delivery id}:replay-N</c>) the org may see, newest first.</summary>
    public async Task<List<Summary>> ReplaysOfAsync(Guid orgId, string deliveryId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var like = EscapeLike(RootOf(deliveryId) + ReplaySeparator) + "%";
        var replays = await VisibleTo(db, orgId).Where(d => EF.Functions.Like(d.DeliveryId, like, "\\") && d.DeliveryId != deliveryId)
            .OrderByDescending(d => d.ReceivedAt)
            .Select(Summarize(db))
            .ToListAsync(ct);
        return await WithResultsAsync(db, orgId, replays, ct);
    }

    /// <summary>Attempts of the org's connections that the delivery created, newest first.</summary>
    public async Task<List<(PublishAttempt Attempt, GitHubConnection? Connection, string? EntryName)>> AttemptsOfAsync(Guid orgId, string deliveryId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var attempts = await db.Attempts.AsNoTracking().Where(a => a.OrgId == orgId && a.DeliveryId == deliveryId)
            .OrderByDescending(a => a.CreatedAt).ToListAsync(ct);
        var ids = attempts.Select(a => a.ConnectionId).Distinct().ToList();
        var connections = await db.Connections.AsNoTracking().Include(c => c.Entry).Where(c => ids.Contains(c.Id)).ToDictionaryAsync(c => c.Id, ct);
        return attempts.Select(a => (a, connections.GetValueOrDefault(a.ConnectionId), connections.GetValueOrDefault(a.ConnectionId)?.Entry?.Name)).ToList();
    }

    /// <summary>Whether the webhook job acts on this event at all (others are stored as ignored, and replaying them does nothing).</summary>
    public static bool IsHandled(string eventName) => WebhookEvents.IsHandled(eventName);

    /// <summary>Events a replay may process again: they only queue (idempotent) publishes for the replaying org's connections.</summary>
    public static readonly IReadOnlySet<string> ReplayableEvents = WebhookEvents.Named(ReplayRule.Replayable).ToHashSet();

    /// <summary>
    /// Events that change connection or installation state (pause, resume, suspend, rename, default branch). Replaying one would
    /// re-apply old state over what happened since, so they are never replayed.
    /// </summary>
    public static readonly IReadOnlySet<string> StateChangingEvents = WebhookEvents.Named(ReplayRule.StateChanging).ToHashSet();

    public static bool CanReplay(string eventName) => WebhookEvents.ReplayRuleOf(eventName) == ReplayRule.Replayable;

    /// <summary>Why a delivery of <paramref name="eventName"/> cannot be replayed, or null when it can.</summary>
    public static string? ReplayRefusal(string eventName) => WebhookEvents.ReplayRefusal(eventName);

    /// <summary>
    /// Replays a stored delivery the way GitHub's "Redeliver" would, without asking GitHub: a NEW delivery row with the same
    /// event and payload and the id <c>{original}:replay-N</c>, and its <c>github.webhook</c> job, stored in one
    /// transaction by <see cref="DeliveryIngest"/> (as the receiver does). The original row stays as it was. The job carries the replaying org, so
    /// processing acts on that org's connections only (never another org's), and publishing stays idempotent: content
    /// that is already published comes out <c>unchanged</c>. Only <see cref="ReplayableEvents"/> can be replayed:
    /// replaying an installation, installation_repositories or repository event would re-apply old state. Admin and owner only.
    /// </summary>
    public async Task<WebhookDelivery> ReplayAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        if (Actor.From(user).Role < MemberRole.Admin) // a registry:push key acts as an admin (the API's replay)
            throw new ProblemException(403, "forbidden", "Only an admin or owner can replay deliveries.");
        var original = await GetAsync(user.GetOrgId(), id, ct) ?? throw ProblemException.NotFound("There is no such delivery in your org.");
        if (ReplayRefusal(original.Event) is { } refusal)
            throw ProblemException.Conflict(refusal);
        // Unreachable through VisibleTo today (a rejected row names no installation or repository); kept so it stays true.
        if (original.Outcome == DeliveryOutcome.Rejected)
            throw ProblemException.Conflict("A delivery rejected for its signature has no body to replay.");

        var root = RootOf(original.DeliveryId);
        for (var tries = 0; ; tries++)
        {
            await using var db = await dbFactory.CreateDbContextAsync(ct);
            var prefix = root + ReplaySeparator;
            var taken = await db.Deliveries.Where(d => d.DeliveryId.StartsWith(prefix)).Select(d => d.DeliveryId).ToListAsync(ct);
            var next = taken.Select(t => int.TryParse(t.AsSpan(prefix.Length), out var n) ? n : 0).DefaultIfEmpty(0).Max() + 1;
            var stored = await ingest.StoreAsync(new DeliveryIngest.Incoming(prefix + next, original.Event, original.Action,
                original.InstallationId, original.RepositoryId, original.RepositoryFullName, () => original.Payload, user.GetOrgId()), ct);
            if (stored.Delivery is { } replay)
            {
                // Recorded once the replay is stored (the ingest commits its own batch; a duplicate records nothing).
                AuditLog.Record(db, Actor.From(user), clock.GetUtcNow(), "delivery.replay", "delivery", original.Id.ToString(), original.DeliveryId,
                    $"{original.Event}{(original.Action is null ? "" : "." + original.Action)} replayed as {replay.DeliveryId}");
                await db.SaveChangesAsync(ct);
                return replay;
            }
            if (tries >= 3) throw ProblemException.Conflict("Another replay of this delivery is being stored; try again.");
            // another replay took the same number: count again
        }
    }

    /// <summary>The delivery id a replay id was made from (itself for a delivery from GitHub).</summary>
    public static string RootOf(string deliveryId)
    {
        var at = deliveryId.IndexOf(ReplaySeparator, StringComparison.Ordinal);
        return at < 0 ? deliveryId : deliveryId[..at];
    }

    static string EscapeLike(string text) => text.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_");
}
