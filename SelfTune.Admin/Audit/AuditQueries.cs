using System.Globalization;

namespace SelfTune.Admin.Audit;

/// <summary>
/// What the audit log page and <c>GET /api/v1/audit</c> ask for. <see cref="Action"/> is an area ("connection") or one
/// action ("connection.delete"); <see cref="Actor"/> is a member's or key's id, or the name the log shows; the time range
/// is <see cref="Since"/> (inclusive) to <see cref="Until"/> (exclusive).
/// </summary>
public sealed record AuditFilter(
    string? Action = null, string? Actor = null, AuditActorKind? ActorKind = null, string? TargetType = null,
    DateTimeOffset? Since = null, DateTimeOffset? Until = null);

/// <summary>
/// Reads an org's audit log, newest first, in one stable order (time, then id) so cursor paging (<see cref="PageRequest"/>)
/// never repeats or skips an entry. Who may read it is the caller's check (owners and admins, the org's push keys).
/// A context per call, so a page's circuit and an API request can both use it.
/// </summary>
public sealed class AuditQueries(IDbContextFactory<AdminDbContext> dbFactory)
{
    public const string List = "audit";

    public async Task<Page<AuditEntry>> ListAsync(Guid orgId, AuditFilter filter, PageRequest page, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = Filtered(db, orgId, filter);
        if (page.After is not null)
        {
            if (page.After is not [var atText, var afterIdText]
                || !DateTimeOffset.TryParseExact(atText, "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out var at)
                || !Guid.TryParse(afterIdText, out var afterId))
                throw PageRequest.InvalidCursor();
            query = query.Where(a => a.At < at || (a.At == at && a.Id.CompareTo(afterId) < 0));
        }
        var rows = await query.OrderByDescending(a => a.At).ThenByDescending(a => a.Id).Take(page.Limit + 1).ToListAsync(ct);
        return page.ToPage(rows, List, a => [a.At.ToString("O", CultureInfo.InvariantCulture), a.Id.ToString()]);
    }

    /// <summary>The actions and target types the org's log holds, for the page's filters.</summary>
    public async Task<(List<string> Actions, List<string> TargetTypes)> ChoicesAsync(Guid orgId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var entries = db.AuditEntries.AsNoTracking().Where(a => a.OrgId == orgId);
        var actions = await entries.Select(a => a.Action).Distinct().OrderBy(a => a).ToListAsync(ct);
        var targets = await entries.Select(a => a.TargetType).Distinct().OrderBy(t => t).ToListAsync(ct);
        return (actions, targets);
    }

    static IQueryable<AuditEntry> Filtered(AdminDbContext db, Guid orgId, AuditFilter filter)
    {
        var query = db.AuditEntries.AsNoTracking().Where(a => a.OrgId == orgId);
        if (!string.IsNullOrWhiteSpace(filter.Action))
        {
            var action = filter.Action.Trim();
            var area = action + ".";
            query = query.Where(a => a.Action == action || a.Action.StartsWith(area));
        }
        if (!string.IsNullOrWhiteSpace(filter.Actor))
        {
            var actor = filter.Actor.Trim();
            query = Guid.TryParse(actor, out var actorId)
                ? query.Where(a => a.ActorId == actorId)
                : query.Where(a => a.ActorName == actor);
        }
        if (filter.ActorKind is { } kind) query = query.Where(a => a.ActorKind == kind);
        if (!string.IsNullOrWhiteSpace(filter.TargetType))
        {
            var targetType = filter.TargetType.Trim();
            query = query.Where(a => a.TargetType == targetType);
        }
        if (filter.Since is { } since) query = query.Where(a => a.At >= since);
        if (filter.Until is { } until) query = query.Where(a => a.At < until);
        return query;
    }
}
