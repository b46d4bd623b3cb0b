namespace SelfTune.Admin.Data;

/// <summary>
/// What the overview page counts and lists of an org. A short-lived context per call (see <see cref="AdminDbContext"/>).
/// </summary>
public sealed class OverviewQueries(IDbContextFactory<AdminDbContext> dbFactory)
{
    /// <summary>
    /// Registry entries, versions, live (unrevoked) keys, connections and paused connections of the org, and its
    /// installations oldest first.
    /// </summary>
    public sealed record Summary(int Entries, int Versions, int Keys, int Connections, int PausedConnections, List<GitHubInstallation> Installations);

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
        }).SingleOrDefaultAsync(ct);
        var installations = await db.Installations.AsNoTracking().Where(i => i.OrgId == orgId).OrderBy(i => i.CreatedAt).ToListAsync(ct);
        return counts is null
            ? new Summary(0, 0, 0, 0, 0, installations)
            : new Summary(counts.Entries, counts.Versions, counts.Keys, counts.Connections, counts.Paused, installations);
    }
}
