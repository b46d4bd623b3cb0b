namespace SelfTune.Admin.Auth;

/// <summary>One org as the operator page lists it: who it is, its plan and standing, and how much it uses.</summary>
public sealed record OperatorOrg(
    Guid Id, string Slug, string Name, Plan Plan, DateTimeOffset CreatedAt,
    int MemberCount, IReadOnlyList<string> Owners,
    int Entries, int Versions, int Connections, long ArchiveBytes, DateTimeOffset? LastPublishAt,
    DateTimeOffset? SuspendedAt, string? SuspendedReason)
{
    public bool IsSuspended => SuspendedAt is not null;
}

/// <summary>
/// What the people who run the deployment (<see cref="TenancySettings"/>: operators, not members of the orgs they manage)
/// do: list every org, change its plan, suspend and unsuspend it. Every call checks <see cref="SelfTuneClaims.IsOperator"/>
/// itself, and every change is recorded in the org's own audit log, so its owners see who changed their plan and why.
/// Each call uses its own DbContext, so a page (whose circuit outlives requests) can hold this service.
/// </summary>
public sealed class OperatorService(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock)
{
    public async Task<IReadOnlyList<OperatorOrg>> ListOrgsAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        RequireOperator(user, "list orgs");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // One query: the counts are correlated subqueries, not a round trip per org (the page lists every org).
        var rows = await db.Orgs.AsNoTracking()
            .Select(o => new
            {
                Org = o,
                Members = db.Members.Count(m => m.OrgId == o.Id),
                Entries = db.Entries.Count(e => e.OrgId == o.Id),
                Versions = db.Versions.Count(v => v.OrgId == o.Id),
                Connections = db.Connections.Count(c => c.OrgId == o.Id),
                ArchiveBytes = db.Versions.Where(v => v.OrgId == o.Id).Sum(v => (long?)v.Size) ?? 0,
                // PublishedAt is stored as sortable ticks: ordering works on both providers where MAX of a converted value may not.
                LastPublishAt = db.Versions.Where(v => v.OrgId == o.Id).OrderByDescending(v => v.PublishedAt)
                    .Select(v => (DateTimeOffset?)v.PublishedAt).FirstOrDefault(),
            })
            .ToListAsync(ct);
        var owners = (await db.Members.AsNoTracking().Where(m => m.Role == MemberRole.Owner)
                .Select(m => new { m.OrgId, m.Name, m.Email }).ToListAsync(ct))
            .ToLookup(m => m.OrgId, m => m.Email is { Length: > 0 } e ? $"{m.Name} <{e}>" : m.Name);

        return rows
            .Select(r => new OperatorOrg(
                r.Org.Id, r.Org.Slug, r.Org.Name, r.Org.Plan, r.Org.CreatedAt,
                r.Members, owners[r.Org.Id].Order(StringComparer.CurrentCultureIgnoreCase).ToList(),
                r.Entries, r.Versions, r.Connections, r.ArchiveBytes, r.LastPublishAt,
                r.Org.SuspendedAt, r.Org.SuspendedReason))
            .OrderBy(o => o.Name, StringComparer.CurrentCultureIgnoreCase).ThenBy(o => o.Slug, StringComparer.Ordinal)
            .ToList();
    }

    public async Task ChangePlanAsync(ClaimsPrincipal user, Guid orgId, Plan plan, CancellationToken ct = default)
    {
        RequireOperator(user, "change plans");
        if (!Enum.IsDefined(plan)) throw ProblemException.Invalid("plan", "plan must be one of: free, pro, team, enterprise.");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var org = await FindAsync(db, orgId, ct);
        if (org.Plan == plan) return;
        var before = org.Plan;
        org.Plan = plan;
        AuditLog.Record(db, ActorFor(user, orgId), clock.GetUtcNow(), "org.plan_change", "org", org.Id.ToString(), org.Name,
            AuditLog.Changed("plan", before, plan));
        await db.SaveChangesAsync(ct);
    }

    public async Task SuspendAsync(ClaimsPrincipal user, Guid orgId, string reason, CancellationToken ct = default)
    {
        RequireOperator(user, "suspend orgs");
        reason = reason.Trim();
        if (reason.Length is 0 or > 500)
            throw ProblemException.Invalid("reason", "Give a reason of 1-500 characters: the org's members and keys are shown it.");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var org = await FindAsync(db, orgId, ct);
        var now = clock.GetUtcNow();
        org.SuspendedAt ??= now;
        org.SuspendedReason = reason;
        AuditLog.Record(db, ActorFor(user, orgId), now, "org.suspend", "org", org.Id.ToString(), org.Name, $"reason: {reason}");
        await db.SaveChangesAsync(ct);
    }

    public async Task UnsuspendAsync(ClaimsPrincipal user, Guid orgId, CancellationToken ct = default)
    {
        RequireOperator(user, "unsuspend orgs");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var org = await FindAsync(db, orgId, ct);
        if (org.SuspendedAt is null) return;
        var reason = org.SuspendedReason;
        org.SuspendedAt = null;
        org.SuspendedReason = null;
        AuditLog.Record(db, ActorFor(user, orgId), clock.GetUtcNow(), "org.unsuspend", "org", org.Id.ToString(), org.Name,
            AuditLog.Changed("suspended", reason ?? "yes", "no"));
        await db.SaveChangesAsync(ct);
    }

    static async Task<Org> FindAsync(AdminDbContext db, Guid orgId, CancellationToken ct) =>
        await db.Orgs.SingleOrDefaultAsync(o => o.Id == orgId, ct) ?? throw ProblemException.NotFound("No such org.");

    /// <summary>
    /// The operator as the org's audit log names them. Operators are not members of the org; the id is their own member
    /// row (in their own org), so the entry still says who it was after a rename.
    /// </summary>
    static Actor ActorFor(ClaimsPrincipal user, Guid orgId) =>
        new(orgId, Guid.TryParse(user.FindFirstValue(SelfTuneClaims.ActorId), out var id) ? id : Guid.Empty, MemberRole.Owner)
        {
            Name = user.FindFirstValue(ClaimTypes.Name) ?? "operator",
            Kind = AuditActorKind.Operator,
        };

    static void RequireOperator(ClaimsPrincipal user, string action)
    {
        if (!user.IsOperator())
            throw new ProblemException(403, "forbidden", $"Only the operators of this SelfTune deployment can {action}.");
    }
}
