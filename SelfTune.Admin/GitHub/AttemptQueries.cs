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
        return await db.Attempts.AsNoTracking().Where(a => a.ConnectionId == connectionId && a.OrgId == orgId)
            .OrderByDescending(a => a.CreatedAt).Take(limit).ToListAsync(ct);
    }

    /// <summary>The org's latest attempts of any connection, newest first.</summary>
    public async Task<List<PublishAttempt>> LatestAsync(Guid orgId, int limit, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Attempts.AsNoTracking().Where(a => a.OrgId == orgId)
            .OrderByDescending(a => a.CreatedAt).Take(limit).ToListAsync(ct);
    }
}
