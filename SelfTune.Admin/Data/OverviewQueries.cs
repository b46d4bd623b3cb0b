namespace SelfTune.Admin.Data;

/// <summary>
/// What the overview page counts and lists of an org, and how its webhooks are doing (also on GitHub setup). A
/// short-lived context per call (see <see cref="AdminDbContext"/>). Every figure is a count, a seek or a few rows: the
/// page stays fast however many connections the org has.
/// </summary>
public sealed class OverviewQueries(IDbContextFactory<AdminDbContext> dbFactory)
{
    /// <summary>How many connections out of step with GitHub the overview names; the rest are counted.</summary>
    public const int DriftedShown = 5;

    /// <summary>
    /// Registry entries, versions, live (unrevoked) keys, connections, paused connections and connections out of step
    /// with GitHub of the org, the newest drifts (at most <see cref="DriftedShown"/>), and its installations oldest first.
    /// </summary>
    public sealed record Summary(int Entries, int Versions, int Keys, int Connections, int PausedConnections, List<GitHubInstallation> Installations,
        int DriftedConnections, List<DriftedConnection> Drifted);

    /// <summary>A connection whose drift the overview shows.</summary>
    public sealed record DriftedConnection(Guid Id, string EntryName, string RepoFullName, string Drift, DateTimeOffset? DetectedAt);

    public async Task<Summary> SummaryAsync(Guid orgId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // The counts in one round trip: each is a count over an index that starts with OrgId.
        var counts = await db.Orgs.Where(o => o.Id == orgId).Select(o => new
        {
            Entries = db.Entries.Count(e => e.OrgId == orgId),
            Versions = db.Versions.Count(v => v.OrgId == orgId),
            Keys = db.ApiKeys.Count(k => k.OrgId == orgId && k.RevokedAt == null),
            Connections = db.Connections.Count(c => c.OrgId == orgId),
            Paused = db.Connections.Count(c => c.OrgId == orgId && c.PausedReason != null),
            Drifted = db.Connections.Count(c => c.OrgId == orgId && c.Drift != null),
        }).SingleOrDefaultAsync(ct);
        var installations = await db.Installations.AsNoTracking().Where(i => i.OrgId == orgId).OrderBy(i => i.CreatedAt).ToListAsync(ct);
        if (counts is null) return new Summary(0, 0, 0, 0, 0, installations, 0, []);
        var drifted = counts.Drifted == 0 ? [] : await db.Connections.AsNoTracking().Where(c => c.OrgId == orgId && c.Drift != null)
            .OrderByDescending(c => c.DriftDetectedAt).ThenBy(c => c.Id).Take(DriftedShown)
            .Select(c => new DriftedConnection(c.Id, c.Entry!.Name, c.RepoOwner + "/" + c.RepoName, c.Drift!, c.DriftDetectedAt))
            .ToListAsync(ct);
        return new Summary(counts.Entries, counts.Versions, counts.Keys, counts.Connections, counts.Paused, installations, counts.Drifted, drifted);
    }

    /// <summary>
    /// Whether GitHub's webhooks reach the org: the last delivery from GitHub it sees (replays and rejected deliveries do
    /// not count), its active (unpaused) connections and since when the oldest of them has been listening.
    /// </summary>
    public sealed record WebhookHealth(DeliveryService.Summary? Last, int ActiveConnections, DateTimeOffset? ListeningSince)
    {
        /// <summary>
        /// Active connections have heard nothing for longer than <paramref name="after"/>: none has had a delivery since
        /// the last one (or ever), and the oldest has been connected longer than that.
        /// </summary>
        public bool IsQuiet(DateTimeOffset now, TimeSpan after) => ActiveConnections > 0 && QuietSince is { } since && now - since > after;

        /// <summary>Since when the active connections have heard nothing: the last delivery, or when the oldest was connected if later.</summary>
        public DateTimeOffset? QuietSince => ListeningSince is not { } since ? null
            : Last is { } last && last.ReceivedAt > since ? last.ReceivedAt : since;
    }

    public async Task<WebhookHealth> WebhookHealthAsync(Guid orgId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var last = await LastDelivery(db, orgId).FirstOrDefaultAsync(ct);
        var active = db.Connections.Where(c => c.OrgId == orgId && c.PausedReason == null);
        var count = await active.CountAsync(ct);
        // The (OrgId, CreatedAt, Id) index, oldest first, to the first active one.
        var since = count == 0 ? null : await active.OrderBy(c => c.CreatedAt).Select(c => (DateTimeOffset?)c.CreatedAt).FirstOrDefaultAsync(ct);
        return new WebhookHealth(last, count, since);
    }

    /// <summary>
    /// <paramref name="health"/> with the org's last delivery read again, its connections as they were: what a delivery
    /// that changes no connection (<see cref="Change.MayChangeConnections"/>) can change of it. The connections' count and
    /// age read the org's connections (5,000 rows at the scale benchmark) on every delivery before.
    /// </summary>
    public async Task<WebhookHealth> WithLastDeliveryAsync(WebhookHealth health, Guid orgId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return health with { Last = await LastDelivery(db, orgId).FirstOrDefaultAsync(ct) };
    }

    /// <summary>The org's deliveries from GitHub newest first, on the ReceivedAt index (the first of the org's ends the read).</summary>
    static IQueryable<DeliveryService.Summary> LastDelivery(AdminDbContext db, Guid orgId) =>
        DeliveryService.VisibleTo(db, orgId).Where(d => d.ReplayedByOrgId == null).OrderByDescending(d => d.ReceivedAt)
            .Select(d => new DeliveryService.Summary(d.Id, d.DeliveryId, d.Event, d.Action, d.InstallationId, d.RepositoryFullName, d.ReceivedAt, d.Outcome, d.OutcomeMessage));
}
