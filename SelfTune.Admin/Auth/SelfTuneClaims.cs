namespace SelfTune.Admin.Auth;

/// <summary>Claim names the app puts on browser and API-key principals, and typed reads of them.</summary>
public static class SelfTuneClaims
{
    public const string OrgId = "selftune:org_id";
    /// <summary>The member (browser) or API key (script) acting; becomes <c>created_by</c>.</summary>
    public const string ActorId = "selftune:actor_id";
    public const string Plan = "selftune:plan";
    public const string OrgName = "selftune:org_name";
    public const string Role = "selftune:role";
    /// <summary>The person's "{issuer}|{sub}" (<see cref="Data.Member.Subject"/>): the same on each of their orgs' member rows.</summary>
    public const string Subject = "selftune:subject";
    /// <summary>The e-mail address the provider verified at sign-in (absent when it did not); an e-mail-bound invitation needs it.</summary>
    public const string VerifiedEmail = "selftune:verified_email";
    public const string Permission = "selftune:permission";
    /// <summary>"true" on a person who runs the deployment (<see cref="TenancySettings"/>); absent otherwise.</summary>
    public const string Operator = "selftune:operator";
    /// <summary>"true" when the provider's role claim made the person an operator; kept across cookie refreshes (the provider is asked again only at sign-in).</summary>
    public const string OperatorByRole = "selftune:operator_by_role";
    /// <summary>Present while an operator has the org suspended; its value is the reason (may be empty).</summary>
    public const string Suspended = "selftune:suspended";

    public const string RegistryRead = "registry:read";
    public const string RegistryPush = "registry:push";
    public static readonly string[] AllPermissions = [RegistryRead, RegistryPush];

    public static Guid? FindOrgId(this ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirstValue(OrgId), out var id) ? id : null;

    public static Guid GetOrgId(this ClaimsPrincipal user) =>
        user.FindOrgId() ?? throw new InvalidOperationException("The principal carries no org.");

    public static Guid GetActorId(this ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirstValue(ActorId), out var id) ? id : throw new InvalidOperationException("The principal carries no actor.");

    public static Plan GetPlan(this ClaimsPrincipal user) =>
        Enum.TryParse<Plan>(user.FindFirstValue(Plan), ignoreCase: true, out var plan) ? plan : Data.Plan.Free;

    public static MemberRole GetRole(this ClaimsPrincipal user) =>
        Enum.TryParse<MemberRole>(user.FindFirstValue(Role), ignoreCase: true, out var role) ? role : MemberRole.Viewer;

    public static bool IsOperator(this ClaimsPrincipal user) => user.HasClaim(Operator, "true");

    /// <summary>Whether the principal's org is suspended, and why (see <see cref="Suspended"/>).</summary>
    public static bool IsSuspended(this ClaimsPrincipal user, out string? reason)
    {
        reason = user.FindFirstValue(Suspended);
        return user.HasClaim(c => c.Type == Suspended);
    }

    public static bool HasPermission(this ClaimsPrincipal user, string permission) =>
        user.HasClaim(Permission, permission);
}
