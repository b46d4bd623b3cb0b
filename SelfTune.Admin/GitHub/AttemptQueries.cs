namespace SelfTune.Admin.GitHub;

/// <summary>
/// Reads of publish attempts, shared by the attempts endpoint and the pages. A short-lived context per call
/// (see <see cref="AdminDbContext"/>), so a circuit and an API request can both use it.
/// </summary>
public sealed class AttemptQueries(IDbContextFactory<AdminDbContext> dbFactory)
{
    /// <summary>The connection's attempts, newest first, at most <paramref name="limit"/>.</summary>
    public async Task<List<PublishAttempt>> OfConnectionAsync(Guid orgId, Guid connectionId, int limit, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = await db.Attempts.AsNoTracking().Where(a => a.ConnectionId == connectionId)
            .OrderByDescending(a => a.CreatedAt).Take(limit).ToListAsync(ct);
        return rows.Where(a => a.OrgId == orgId).ToList(); // see OfConnectionAsync below

    }

    /// <summary>The cursor list name of the attempts endpoint.</summary>
    public const string AttemptsList = "attempts";

    /// <summary>The API's list of a connection's attempts: newest first (created_at, then id), keyset-paged.</summary>
    public async Task<Page<PublishAttempt>> OfConnectionAsync(Guid orgId, Guid connectionId, PageRequest page, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // Only the connection in SQL: with OrgId there too, SQLite walks the org's (OrgId, CreatedAt) index, every attempt of
        // the org, instead of the connection's (ConnectionId, CreatedAt). A connection's attempts are all of its org; the org
        // is checked on the rows read.
        var query = db.Attempts.AsNoTracking().Where(a => a.ConnectionId == connectionId);
        if (page.AfterTimeAndId() is (var at, var afterId))
            query = query.Where(a => a.CreatedAt < at || (a.CreatedAt == at && a.Id.CompareTo(afterId) < 0));
        var rows = await query.OrderByDescending(a => a.CreatedAt).ThenByDescending(a => a.Id).Take(page.Limit + 1).ToListAsync(ct);
        return page.ToPage(rows.Where(a => a.OrgId == orgId).ToList(), AttemptsList, a => PageRequest.TimeAndIdKey(a.CreatedAt, a.Id));
    }

    /// <summary>The org's latest attempts of any connection, newest first, with their entry's name (null once the connection is deleted).</summary>
    public async Task<List<(PublishAttempt Attempt, string? EntryName)>> LatestAsync(Guid orgId, int limit, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = await db.Attempts.AsNoTracking().Where(a => a.OrgId == orgId)
            .OrderByDescending(a => a.CreatedAt).Take(limit)
            .Select(a => new
            {
                Attempt = a,
                EntryName = db.Connections.Where(c => c.Id == a.ConnectionId).Select(c => c.Entry!.Name).FirstOrDefault(),
            })
            .ToListAsync(ct);
        return rows.Select(r => (r.Attempt, r.EntryName)).ToList();
    }
}
