namespace SelfTune.Admin.Auth;

/// <summary>An org a person belongs to, as the org menu lists it.</summary>
public sealed record MyOrg(Guid Id, string Name, string Slug, Plan Plan, MemberRole Role);

/// <summary>
/// Orgs as their members manage them: anyone signed in creates an org (and owns it), owners rename or delete one, and
/// any member leaves one (never its last owner). After leaving or deleting, the caller sends the browser to
/// <c>/account/land</c>, which re-issues the cookie for the person's org chosen last (a fresh personal org when none is left).
/// Each call uses its own DbContext, so a page can hold this service.
/// </summary>
public sealed class OrgService(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock, IOptions<TenancySettings> tenancy)
{
    const int MaxNameLength = 100;

    /// <summary>The orgs <paramref name="user"/>'s person belongs to, by name.</summary>
    public async Task<List<MyOrg>> ListMineAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var subject = await MemberDirectory.SubjectOfAsync(db, user, ct);
        if (subject is null) return [];
        var orgs = await db.Members.AsNoTracking().Where(m => m.Subject == subject)
            .Join(db.Orgs, m => m.OrgId, o => o.Id, (m, o) => new MyOrg(o.Id, o.Name, o.Slug, o.Plan, m.Role))
            .ToListAsync(ct);
        return orgs.OrderBy(o => o.Name, StringComparer.CurrentCultureIgnoreCase).ToList();
    }

    /// <summary>A new org on the default plan with <paramref name="user"/>'s person as its owner; it becomes their chosen org.</summary>
    public async Task<Org> CreateAsync(ClaimsPrincipal user, string name, CancellationToken ct = default)
    {
        name = ValidName(name);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var subject = await MemberDirectory.SubjectOfAsync(db, user, ct) ?? throw new ProblemException(403, "forbidden", "Only a signed-in person creates orgs.");
        var now = clock.GetUtcNow();
        var org = new Org { Slug = await MemberDirectory.FreeSlugAsync(db, name, ct), Name = name, Plan = tenancy.Value.DefaultPlan, CreatedAt = now };
        var owner = new Member
        {
            OrgId = org.Id, Subject = subject, Name = user.Identity?.Name ?? name,
            Email = user.FindFirstValue(ClaimTypes.Email) is { Length: > 0 } email ? email : null,
            Role = MemberRole.Owner, CreatedAt = now, LastSelectedAt = now,
        };
        db.Orgs.Add(org);
        db.Members.Add(owner);
        AuditLog.Record(db, new Actor(org.Id, owner.Id, MemberRole.Owner) { Name = owner.Name }, now, "org.create", "org", org.Id.ToString(), org.Name,
            $"plan: {org.Plan.ToString().ToLowerInvariant()}");
        await db.SaveChangesAsync(ct);
        return org;
    }

    public async Task<Org> GetCurrentAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        var orgId = user.GetOrgId();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Orgs.AsNoTracking().SingleOrDefaultAsync(o => o.Id == orgId, ct) ?? throw ProblemException.NotFound("This org no longer exists.");
    }

    public async Task RenameAsync(ClaimsPrincipal user, string name, CancellationToken ct = default)
    {
        var actor = Actor.From(user);
        actor.Require(MemberRole.Owner, "rename the org");
        name = ValidName(name);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var org = await db.Orgs.SingleOrDefaultAsync(o => o.Id == actor.OrgId, ct) ?? throw ProblemException.NotFound("This org no longer exists.");
        if (org.Name == name) return;
        AuditLog.Record(db, actor, clock.GetUtcNow(), "org.rename", "org", org.Id.ToString(), name, AuditLog.Changed("name", org.Name, name));
        org.Name = name;
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Takes <paramref name="user"/> out of their current org; refused for its last owner, who deletes the org or makes someone else an owner.</summary>
    public async Task LeaveAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        var actor = Actor.From(user);
        if (actor.Kind != AuditActorKind.Member) throw new ProblemException(403, "forbidden", "Only a member leaves an org.");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var me = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == actor.Id && m.OrgId == actor.OrgId, ct)
            ?? throw ProblemException.NotFound("You are no longer a member of this org.");
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var left = await MemberService.WhereNotLastOwner(db, db.Members.Where(m => m.Id == me.Id), actor.OrgId).ExecuteDeleteAsync(ct);
        if (left == 0)
            throw ProblemException.Conflict("You are this org's last owner: make another member an owner on the Members page first, or delete the org.");
        AuditLog.Record(db, actor, clock.GetUtcNow(), "member.leave", "member", me.Id.ToString(), me.Name, $"role: {me.Role.ToString().ToLowerInvariant()}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Deletes the current org and everything it owns: members, invitations, API keys, registry entries and versions,
    /// GitHub connections and their attempts, installation bindings and install states, GitHub settings. The audit
    /// entries stay (with an <c>org.delete</c> entry last), as do the webhook deliveries GitHub sent, which belong to no
    /// org. Archives stay in the archive store: they are content-addressed and may be shared with other orgs' versions.
    /// Queued jobs are left to run out harmlessly: a sync or publish job whose connection or attempt is gone finishes
    /// without doing anything, and a webhook for an installation no org binds any more is ignored.
    /// </summary>
    /// <param name="confirmName">The org's name typed by the owner, so an org is not deleted by a slip.</param>
    public async Task DeleteAsync(ClaimsPrincipal user, string confirmName, CancellationToken ct = default)
    {
        var actor = Actor.From(user);
        actor.Require(MemberRole.Owner, "delete the org");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var org = await db.Orgs.AsNoTracking().SingleOrDefaultAsync(o => o.Id == actor.OrgId, ct) ?? throw ProblemException.NotFound("This org no longer exists.");
        if (!string.Equals(confirmName?.Trim(), org.Name, StringComparison.Ordinal))
            throw ProblemException.Invalid("name", $"Type the org's name, {org.Name}, to confirm.");

        var id = org.Id;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.Attempts.Where(a => a.OrgId == id).ExecuteDeleteAsync(ct);
        await db.Connections.Where(c => c.OrgId == id).ExecuteDeleteAsync(ct);
        await db.Versions.Where(v => v.OrgId == id).ExecuteDeleteAsync(ct);
        await db.Entries.Where(e => e.OrgId == id).ExecuteDeleteAsync(ct);
        await db.Installations.Where(i => i.OrgId == id).ExecuteDeleteAsync(ct);
        await db.InstallStates.Where(s => s.OrgId == id).ExecuteDeleteAsync(ct);
        await db.GitHubSettings.Where(s => s.OrgId == id).ExecuteDeleteAsync(ct);
        await db.ApiKeys.Where(k => k.OrgId == id).ExecuteDeleteAsync(ct);
        await db.Invitations.Where(i => i.OrgId == id).ExecuteDeleteAsync(ct);
        await db.Members.Where(m => m.OrgId == id).ExecuteDeleteAsync(ct);
        await db.Orgs.Where(o => o.Id == id).ExecuteDeleteAsync(ct);
        AuditLog.Record(db, actor, clock.GetUtcNow(), "org.delete", "org", id.ToString(), org.Name, $"slug: {org.Slug}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }

    static string ValidName(string? name)
    {
        name = name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength || name.Any(char.IsControl))
            throw ProblemException.Invalid("name", $"An org's name is 1 to {MaxNameLength} characters.");
        return name;
    }
}
