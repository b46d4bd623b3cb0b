namespace SelfTune.Admin.Auth;

/// <summary>
/// <c>SelfTune</c> settings for who runs the deployment and what new orgs get. Operators (the people who run the
/// deployment, not members of any org) see every org and change plans; they are named by OIDC subject or e-mail
/// address in <c>SelfTune:Operators</c>, or carry <c>SelfTune:OperatorRole</c> in the provider's role claim
/// (<c>SelfTune:OperatorRoleClaim</c>, default <c>roles</c>). <c>SelfTune:DefaultPlan</c> is new orgs' plan: a
/// single-team self-hosted install sets <c>pro</c>.
/// </summary>
public sealed class TenancySettings
{
    public Plan DefaultPlan { get; set; } = Plan.Free;
    /// <summary>OIDC subjects ("sub") or e-mail addresses (compared ignoring case; an e-mail must be verified).</summary>
    public string[] Operators { get; set; } = [];
    public string OperatorRoleClaim { get; set; } = "roles";
    public string? OperatorRole { get; set; }
    /// <summary>How members reach the operators (names, an e-mail address, a team channel), shown where a plan or a suspension stops them.</summary>
    public string? OperatorContact { get; set; }

    /// <summary>Who changes plans and lifts suspensions, as a page tells a member: the configured contact, else a description.</summary>
    public string OperatorsDescription => string.IsNullOrWhiteSpace(OperatorContact)
        ? "the people who run this SelfTune deployment"
        : $"this deployment's operators ({OperatorContact.Trim()})";

    /// <summary>Whether the person named by the configured list is an operator (the role claim is checked at sign-in).</summary>
    public bool ListsOperator(string subject, string? email, bool emailVerified) =>
        Operators.Any(o => string.Equals(o, subject, StringComparison.Ordinal)
                           || (emailVerified && email is not null && string.Equals(o, email, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Whether the provider's role claims name the operator role.</summary>
    public bool RolesNameOperator(IEnumerable<string> roles) =>
        !string.IsNullOrEmpty(OperatorRole) && roles.Contains(OperatorRole, StringComparer.Ordinal);
}

/// <summary>
/// A person as the sign-in provider (or the development sign-in) describes them. <see cref="Subject"/> is the
/// provider's "sub", unique per <see cref="Issuer"/>; <see cref="EmailVerified"/> is the provider's
/// <c>email_verified</c> claim (an e-mail-bound invitation and an operator named by e-mail need it).
/// </summary>
public sealed record ExternalIdentity(string Issuer, string Subject, string? Name, string? Email, bool EmailVerified, IReadOnlyList<string> Roles)
{
    /// <summary>Reads the claims of an OIDC principal (MapInboundClaims off: the provider's own claim names).</summary>
    public static ExternalIdentity FromOidc(ClaimsPrincipal p, string authority, TenancySettings tenancy) => new(
        p.FindFirstValue("iss") ?? authority,
        p.FindFirstValue("sub") ?? throw new InvalidOperationException("The provider sent no 'sub' claim."),
        p.FindFirstValue("name") ?? p.FindFirstValue("preferred_username"),
        p.FindFirstValue("email"),
        string.Equals(p.FindFirstValue("email_verified"), "true", StringComparison.OrdinalIgnoreCase),
        p.FindAll(tenancy.OperatorRoleClaim).Select(c => c.Value).ToList());
}
