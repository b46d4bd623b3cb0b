namespace SelfTune.Admin.Data;

/// <summary>
/// What the overview page counts and lists of an org. A short-lived context per call (see <see cref="AdminDbContext"/>).
/// </summary>
public sealed class OverviewQueries(IDbContextFactory<AdminDbContext> dbFactory)
{
    /// <summary>Registry entries, versions and live (unrevoked) keys of the org, and its installations oldest first.</summary>
    public sealed record Summary(int Entries, int Versions, int Keys, List<GitHubInstallation> Installations);

    public async Task<Summary> SummaryAsync(Guid orgId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var entries = await db.Entries.CountAsync(e => e.OrgId == orgId, ct);
        var versions = await db.Versions.CountAsync(v => v.OrgId == orgId, ct);
        var keys = await db.ApiKeys.CountAsync(k => k.OrgId == orgId && k.RevokedAt == null, ct);
        var installations = await db.Installations.AsNoTracking().Where(i => i.OrgId == orgId).OrderBy(i => i.CreatedAt).ToListAsync(ct);
        return new Summary(entries, versions, keys, installations);
    }
}
