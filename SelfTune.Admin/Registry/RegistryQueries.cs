namespace SelfTune.Admin.Registry;

/// <summary>
/// Reads of the registry for the API and the registry pages. The API's lists have one stable order each, so cursor
/// paging (<see cref="PageRequest"/>) never repeats or skips a row: entries by name then id, versions newest first by
/// published_at then id. A short-lived context per call, so a page's circuit and an API request can both use it.
/// </summary>
public sealed class RegistryQueries(IDbContextFactory<AdminDbContext> dbFactory)
{
    public const string EntriesList = "entries";
    public const string VersionsList = "versions";

    /// <summary>The org's entries by name (the connection form's entry picker).</summary>
    public async Task<List<RegistryEntry>> EntriesByNameAsync(Guid orgId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = await db.Entries.AsNoTracking().Where(e => e.OrgId == orgId).ToListAsync(ct);
        return rows.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The registry page's rows: page <paramref name="pageIndex"/> (from 0) of the org's entries by name that match
    /// <paramref name="search"/> (in the name, description or source repository, any case; null or blank: all); and how
    /// many match and how many the org has, counted in one query.
    /// </summary>
    public async Task<(List<RegistryEntry> Rows, int Matching, int Total)> EntriesPageAsync(
        Guid orgId, string? search, int pageIndex, int pageSize, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var all = db.Entries.AsNoTracking().Where(e => e.OrgId == orgId);
        var matching = Matching(all, search);
        var counts = await db.Orgs.Where(o => o.Id == orgId)
            .Select(o => new { Matching = matching.Count(), Total = all.Count() }).SingleOrDefaultAsync(ct);
        if (counts is not { Matching: > 0 }) return ([], 0, counts?.Total ?? 0);
        var rows = await matching.OrderBy(e => e.Name).ThenBy(e => e.Id).Skip(Math.Max(0, pageIndex) * pageSize).Take(pageSize)
            .ToListAsync(ct);
        return (rows, counts.Matching, counts.Total);
    }

    /// <summary>
    /// Rows of the registry page, re-read when versions were published to them, in one query: the org's entries of
    /// <paramref name="entryIds"/> that match <paramref name="search"/> (as in <see cref="EntriesPageAsync"/>); an id the
    /// org does not have, or that does not match, is missing.
    /// </summary>
    public async Task<Dictionary<Guid, RegistryEntry>> EntryRowsAsync(Guid orgId, IReadOnlyCollection<Guid> entryIds, string? search, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await Matching(db.Entries.AsNoTracking().Where(e => e.OrgId == orgId && entryIds.Contains(e.Id)), search)
            .ToDictionaryAsync(e => e.Id, ct);
    }

    // The registry page's search: in the name, description or source repository, any case; null or blank matches all.
    static IQueryable<RegistryEntry> Matching(IQueryable<RegistryEntry> entries, string? search)
    {
        if (string.IsNullOrWhiteSpace(search)) return entries;
        var term = search.Trim().ToLowerInvariant();
        return entries.Where(e => e.Name.ToLower().Contains(term) || e.Description.ToLower().Contains(term)
                                  || (e.SourceRepo != null && e.SourceRepo.ToLower().Contains(term)));
    }

    /// <summary>
    /// An entry of the org with all its versions, newest first, for the entry page; null when the org has no such entry
    /// (another org's entry is "not found" exactly like a missing one).
    /// </summary>
    public async Task<(RegistryEntry Entry, List<SkillVersion> Versions)?> EntryWithVersionsAsync(Guid orgId, Guid entryId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var entry = await db.Entries.AsNoTracking().SingleOrDefaultAsync(e => e.Id == entryId && e.OrgId == orgId, ct);
        if (entry is null) return null;
        var versions = await db.Versions.AsNoTracking().Where(v => v.EntryId == entryId && v.OrgId == orgId)
            .OrderByDescending(v => v.PublishedAt).ThenByDescending(v => v.Id).ToListAsync(ct);
        return (entry, versions);
    }

    /// <param name="orgId">The org whose entries to list; null lists the public entries of every org.</param>
    public async Task<Page<RegistryEntry>> ListEntriesAsync(Guid? orgId, string? name, PageRequest page, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.Entries.AsNoTracking();
        query = orgId is { } org ? query.Where(e => e.OrgId == org) : query.Where(e => e.Visibility == Visibility.Public);
        if (name is not null) query = query.Where(e => e.Name == name);
        if (page.After is not null)
        {
            if (page.After is not [var afterName, var afterIdText] || !Guid.TryParse(afterIdText, out var afterId)) throw PageRequest.InvalidCursor();
            query = query.Where(e => string.Compare(e.Name, afterName) > 0 || (e.Name == afterName && e.Id.CompareTo(afterId) > 0));
        }
        var rows = await query.OrderBy(e => e.Name).ThenBy(e => e.Id).Take(page.Limit + 1).ToListAsync(ct);
        return page.ToPage(rows, EntriesList, e => [e.Name, e.Id.ToString()]);
    }

    /// <summary>An entry's versions, newest first, with the listed columns only (SKILL.md and the manifest stay behind).</summary>
    public async Task<Page<VersionResponse>> ListVersionsAsync(Guid entryId, PageRequest page, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.Versions.AsNoTracking().Where(v => v.EntryId == entryId);
        if (page.AfterTimeAndId() is (var at, var afterId))
            query = query.Where(v => v.PublishedAt < at || (v.PublishedAt == at && v.Id.CompareTo(afterId) < 0));
        var rows = await query.OrderByDescending(v => v.PublishedAt).ThenByDescending(v => v.Id).Take(page.Limit + 1)
            .Select(v => new
            {
                v.Id, v.EntryId, v.Version, v.ChangeSummary, v.Source, v.SourceRef, v.SourceRepo, v.ContentHash, v.Size,
                v.FileCount, v.PublishedAt, v.CreatedBy, v.YankedAt, v.YankedReason, v.Warnings,
            })
            .ToListAsync(ct);
        var versions = rows.Select(v => new VersionResponse(v.Id, v.EntryId, v.Version, v.ChangeSummary, v.Source, v.SourceRef, v.SourceRepo,
            v.ContentHash, v.Size, v.FileCount, v.PublishedAt, v.CreatedBy, v.YankedAt is not null, v.YankedAt, v.YankedReason,
            VersionResponse.ParseWarnings(v.Warnings), null)).ToList();
        return page.ToPage(versions, VersionsList, v => PageRequest.TimeAndIdKey(v.PublishedAt, v.Id));
    }
}
