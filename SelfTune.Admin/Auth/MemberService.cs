namespace SelfTune.Admin.Auth;

/// <summary>
/// The members of an org and their roles. Everyone in the org may list them; admins and owners change roles, with
/// three refusals: nobody changes their own role, only an owner grants or takes away the owner role, and an org never
/// loses its last owner. Each call uses its own DbContext, so a page (whose circuit outlives requests) can hold this service.
/// </summary>
public sealed class MemberService(IDbContextFactory<AdminDbContext> dbFactory)
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

    /// <summary>The roles <paramref name="user"/> may give to another member.</summary>
    public static IReadOnlyList<MemberRole> AssignableRoles(ClaimsPrincipal user) =>
        user.GetRole() == MemberRole.Owner
            ? [MemberRole.Owner, MemberRole.Admin, MemberRole.Member, MemberRole.Viewer]
            : [MemberRole.Admin, MemberRole.Member, MemberRole.Viewer];

    public async Task<Member> ChangeRoleAsync(ClaimsPrincipal user, Guid memberId, MemberRole role, CancellationToken ct = default)
    {
        if (!Enum.IsDefined(role)) throw ProblemException.Invalid("role", "role must be one of: owner, admin, member, viewer.");
        var callerRole = user.GetRole();
        Actor.From(user).Require(MemberRole.Admin, "change members' roles");
        if (memberId.ToString() == user.FindFirstValue(SelfTuneClaims.ActorId))
            throw new ProblemException(403, "forbidden", "You cannot change your own role; ask another owner or admin.");

        var orgId = user.GetOrgId();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var member = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == memberId && m.OrgId == orgId, ct)
            ?? throw ProblemException.NotFound("No such member in this org.");
        if (callerRole != MemberRole.Owner && (member.Role == MemberRole.Owner || role == MemberRole.Owner))
            throw new ProblemException(403, "forbidden", "Only an owner grants or takes away the owner role.");
        if (member.Role == role) return member;

        // One statement, so two owners demoting each other at the same moment cannot leave the org without an owner.
        var updated = await db.Members
            .Where(m => m.Id == memberId && m.OrgId == orgId)
            .Where(m => m.Role != MemberRole.Owner || role == MemberRole.Owner
                        || db.Members.Count(o => o.OrgId == orgId && o.Role == MemberRole.Owner) > 1)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.Role, role), ct);
        if (updated == 0)
            throw ProblemException.Conflict($"{member.Name} is the org's last owner; make someone else an owner first.");
        member.Role = role;
        return member;
    }
}
