namespace SelfTune.Admin.Auth;

/// <summary>
/// The members of an org and their roles. Everyone in the org may list them; admins and owners change roles and remove
/// members, with the same refusals for both: nobody changes or removes themself (one leaves instead, see
/// <see cref="OrgService.LeaveAsync"/>), only an owner grants, takes away or removes the owner role, and an org never
/// loses its last owner. Each call uses its own DbContext, so a page (whose circuit outlives requests) can hold this service.
/// </summary>
public sealed class MemberService(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock)
{
    public async Task<List<Member>> ListAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        var orgId = user.GetOrgId();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var members = await db.Members.AsNoTracking().Where(m => m.OrgId == orgId).ToListAsync(ct);
        // Owners first, then by name; sorted here because the role is stored as text.
        return members.OrderByDescending(m => m.Role).ThenBy(m => m.Name, StringComparer.CurrentCultureIgnoreCase).ToList();
    }

    /// <summary>Whether <paramref name="user"/> may change <paramref name="member"/>'s role at all (the UI hides the control otherwise).</summary>
    public static bool CanChangeRole(ClaimsPrincipal user, Member member)
    {
        var role = user.GetRole();
        if (role < MemberRole.Admin || member.Id.ToString() == user.FindFirstValue(SelfTuneClaims.ActorId)) return false;
        return member.Role != MemberRole.Owner || role == MemberRole.Owner;
    }

    /// <summary>Whether <paramref name="user"/> may remove <paramref name="member"/> (the UI hides Remove otherwise).</summary>
    public static bool CanRemove(ClaimsPrincipal user, Member member) => CanChangeRole(user, member);

    /// <summary>The roles <paramref name="user"/> may give to another member.</summary>
    public static IReadOnlyList<MemberRole> AssignableRoles(ClaimsPrincipal user) =>
        user.GetRole() == MemberRole.Owner
            ? [MemberRole.Owner, MemberRole.Admin, MemberRole.Member, MemberRole.Viewer]
            : [MemberRole.Admin, MemberRole.Member, MemberRole.Viewer];

    public async Task<Member> ChangeRoleAsync(ClaimsPrincipal user, Guid memberId, MemberRole role, CancellationToken ct = default)
    {
        if (!Enum.IsDefined(role)) throw ProblemException.Invalid("role", "role must be one of: owner, admin, member, viewer.");
        var actor = Actor.From(user);
        actor.Require(MemberRole.Admin, "change members' roles");
        if (memberId == actor.Id)
            throw new ProblemException(403, "forbidden", "You cannot change your own role; ask another owner or admin.");

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var member = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == memberId && m.OrgId == actor.OrgId, ct)
            ?? throw ProblemException.NotFound("No such member in this org.");
        if (actor.Role != MemberRole.Owner && (member.Role == MemberRole.Owner || role == MemberRole.Owner))
            throw new ProblemException(403, "forbidden", "Only an owner grants or takes away the owner role.");
        if (member.Role == role) return member;

        // One statement, so two owners demoting each other at the same moment cannot leave the org without an owner;
        // its audit entry commits in the same transaction.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var updated = await WhereNotLastOwner(db, db.Members.Where(m => m.Id == memberId && m.OrgId == actor.OrgId), actor.OrgId, role)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Role, role), ct);
        if (updated == 0)
            throw ProblemException.Conflict($"{member.Name} is the org's last owner; make someone else an owner first.");
        AuditLog.Record(db, actor, clock.GetUtcNow(), "member.role_change", "member", member.Id.ToString(), member.Name, AuditLog.Changed("role", member.Role, role));
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        member.Role = role;
        return member;
    }

    /// <summary>Removes another member from the org (admins and owners; owners only by owners; never the last owner).</summary>
    public async Task RemoveAsync(ClaimsPrincipal user, Guid memberId, CancellationToken ct = default)
    {
        var actor = Actor.From(user);
        actor.Require(MemberRole.Admin, "remove members");
        if (memberId == actor.Id)
            throw new ProblemException(403, "forbidden", "You cannot remove yourself; leave the org on its settings page instead.");

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var member = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == memberId && m.OrgId == actor.OrgId, ct)
            ?? throw ProblemException.NotFound("No such member in this org.");
        if (actor.Role != MemberRole.Owner && member.Role == MemberRole.Owner)
            throw new ProblemException(403, "forbidden", "Only an owner removes an owner.");

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var removed = await WhereNotLastOwner(db, db.Members.Where(m => m.Id == memberId && m.OrgId == actor.OrgId), actor.OrgId)
            .ExecuteDeleteAsync(ct);
        if (removed == 0)
            throw ProblemException.Conflict($"{member.Name} is the org's last owner; make someone else an owner first.");
        AuditLog.Record(db, actor, clock.GetUtcNow(), "member.remove", "member", member.Id.ToString(), member.Name, $"role: {member.Role.ToString().ToLowerInvariant()}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// <paramref name="members"/> without an owner who is the org's last (checked in the same statement as the change),
    /// unless the change keeps them an owner (<paramref name="newRole"/> owner).
    /// </summary>
    internal static IQueryable<Member> WhereNotLastOwner(AdminDbContext db, IQueryable<Member> members, Guid orgId, MemberRole? newRole = null) =>
        newRole == MemberRole.Owner
            ? members
            : members.Where(m => m.Role != MemberRole.Owner || db.Members.Count(o => o.OrgId == orgId && o.Role == MemberRole.Owner) > 1);
}
