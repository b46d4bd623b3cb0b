namespace SelfTune.Admin.Auth;

/// <summary>
/// Who is acting on an org, as services see it: the org, the member or API key (<see cref="Id"/> becomes
/// <c>created_by</c>) and the role a change is checked against. Services that change settings take one and check it
/// themselves, so a page that forgets to hide a button, or a new endpoint, cannot skip the rule (SPEC section 2:
/// admins and owners manage GitHub settings, connections and API keys; members may also trigger a sync; viewers read).
/// </summary>
public sealed record Actor(Guid OrgId, Guid Id, MemberRole Role)
{
    /// <summary>The member's or key's name at the time, as the audit log shows it.</summary>
    public string Name { get; init; } = "";
    public AuditActorKind Kind { get; init; } = AuditActorKind.Member;
    /// <summary>Set while an operator has the org suspended: <see cref="Require"/> then refuses every change.</summary>
    public bool Suspended { get; init; }
    public string? SuspendedReason { get; init; }

    /// <summary>The app itself acting on an org (a scheduled sync, a webhook), for the audit log.</summary>
    public static Actor System(Guid orgId) => new(orgId, Guid.Empty, MemberRole.Admin) { Name = "SelfTune", Kind = AuditActorKind.System };

    /// <summary>
    /// The actor behind a signed-in browser or an API key. A key has no member behind it: one with
    /// <c>registry:push</c> is the org's automation for publishing and the GitHub integration (the seed's API), which
    /// admins created for it, so it acts as an admin; any other key only reads.
    /// </summary>
    public static Actor From(ClaimsPrincipal user)
    {
        var isKey = user.Identity?.AuthenticationType == ApiKeyAuthenticationHandler.SchemeName;
        var role = isKey
            ? user.HasPermission(SelfTuneClaims.RegistryPush) ? MemberRole.Admin : MemberRole.Viewer
            : user.GetRole();
        return new Actor(user.GetOrgId(), user.GetActorId(), role)
        {
            Name = user.FindFirstValue(ClaimTypes.Name) ?? "",
            Kind = isKey ? AuditActorKind.ApiKey : AuditActorKind.Member,
            Suspended = user.IsSuspended(out var reason),
            SuspendedReason = reason,
        };
    }

    /// <summary>
    /// Throws 403 <c>org_suspended</c> while the org is suspended (every change passes here, so this is the one place a
    /// suspension is enforced for services; the API refuses a suspended key's writes before that), then 403
    /// <c>forbidden</c> unless the actor has <paramref name="minimum"/> or a higher role.
    /// </summary>
    /// <param name="action">What is being done, completing "Only admins and owners can ...", e.g. "delete connections".</param>
    public void Require(MemberRole minimum, string action)
    {
        if (Suspended) throw OrgStanding.Refusal(SuspendedReason);
        if (Role >= minimum) return;
        var who = minimum switch
        {
            MemberRole.Owner => "owners",
            MemberRole.Admin => "admins and owners",
            _ => "members, admins and owners",
        };
        throw new ProblemException(403, "forbidden", $"Only {who} can {action}; your role is {Role.ToString().ToLowerInvariant()}.");
    }
}
