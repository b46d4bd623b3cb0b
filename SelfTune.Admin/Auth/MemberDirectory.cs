using System.Text.RegularExpressions;

namespace SelfTune.Admin.Auth;

/// <summary>
/// Maps a signed-in person (OIDC subject, or the development user) to a member of an org and builds the
/// cookie principal. A person seen for the first time gets a personal org on the free plan, as Vercel
/// and similar products do; an owner can then upgrade it or invite others.
/// </summary>
public sealed partial class MemberDirectory(AdminDbContext db, TimeProvider clock, IOptions<TenancySettings> tenancy)
{
    public async Task<ClaimsIdentity> SignInAsync(ExternalIdentity person, string authenticationType, CancellationToken ct = default)
    {
        var (issuer, subject, name, email) = (person.Issuer, person.Subject, person.Name, person.Email);
        // Providers differ on a trailing slash in "iss"; one person must map to one member either way.
        var key = $"{issuer.TrimEnd('/')}|{subject}";
        var now = clock.GetUtcNow();
        var member = await db.Members.OrderBy(m => m.CreatedAt).FirstOrDefaultAsync(m => m.Subject == key, ct);
        if (member is null)
        {
            var display = name ?? email ?? subject;
            var org = new Org { Slug = await FreeSlugAsync(display, ct), Name = $"{display}'s org", Plan = tenancy.Value.DefaultPlan, CreatedAt = now };
            member = new Member { OrgId = org.Id, Subject = key, Name = display, Email = email, Role = MemberRole.Owner, CreatedAt = now };
            db.Orgs.Add(org);
            db.Members.Add(member);
        }
        else
        {
            if (name is not null) member.Name = name;
            if (email is not null) member.Email = email;
        }
        member.LastSignInAt = now;
        await db.SaveChangesAsync(ct);
        var identity = await IdentityForAsync(member, authenticationType, ct);
        var operatorByRole = tenancy.Value.RolesNameOperator(person.Roles);
        if (operatorByRole) identity.AddClaim(new Claim(SelfTuneClaims.OperatorByRole, "true"));
        if (operatorByRole || tenancy.Value.ListsOperator(subject, email, person.EmailVerified))
            identity.AddClaim(new Claim(SelfTuneClaims.Operator, "true"));
        return identity;
    }

    /// <summary>
    /// The current identity of a signed-in member (role and plan may have changed), or null when the member is gone.
    /// Operator standing from the configured list is read again; from the provider's role claim it is kept until the next sign-in.
    /// </summary>
    public async Task<ClaimsIdentity?> RefreshAsync(Guid memberId, ClaimsPrincipal current, string authenticationType, CancellationToken ct = default)
    {
        var member = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == memberId, ct);
        if (member is null) return null;
        var identity = await IdentityForAsync(member, authenticationType, ct);
        var operatorByRole = current.HasClaim(SelfTuneClaims.OperatorByRole, "true");
        if (operatorByRole) identity.AddClaim(new Claim(SelfTuneClaims.OperatorByRole, "true"));
        var subject = member.Subject[(member.Subject.IndexOf('|') + 1)..];
        // The e-mail was verified when it was stored from the provider (only verified addresses name operators).
        if (operatorByRole || tenancy.Value.ListsOperator(subject, member.Email, current.HasClaim(SelfTuneClaims.Operator, "true")))
            identity.AddClaim(new Claim(SelfTuneClaims.Operator, "true"));
        return identity;
    }

    async Task<ClaimsIdentity> IdentityForAsync(Member member, string authenticationType, CancellationToken ct)
    {
        var org = await db.Orgs.AsNoTracking().SingleAsync(o => o.Id == member.OrgId, ct);
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, member.Id.ToString()),
            new Claim(ClaimTypes.Name, member.Name),
            new Claim(ClaimTypes.Email, member.Email ?? ""),
            new Claim(SelfTuneClaims.OrgId, org.Id.ToString()),
            new Claim(SelfTuneClaims.ActorId, member.Id.ToString()),
            new Claim(SelfTuneClaims.Role, member.Role.ToString()),
            new Claim(SelfTuneClaims.Plan, org.Plan.ToString()),
            new Claim(SelfTuneClaims.OrgName, org.Name),
        ], authenticationType, ClaimTypes.Name, SelfTuneClaims.Role);
        if (org.SuspendedAt is not null) identity.AddClaim(new Claim(SelfTuneClaims.Suspended, org.SuspendedReason ?? ""));
        return identity;
    }

    async Task<string> FreeSlugAsync(string display, CancellationToken ct)
    {
        var local = display.Split('@')[0].ToLowerInvariant();
        var slug = NonSlug().Replace(local, "-").Trim('-');
        if (slug.Length == 0) slug = "org";
        if (slug.Length > 40) slug = slug[..40];
        var candidate = slug;
        for (var n = 2; await db.Orgs.AnyAsync(o => o.Slug == candidate, ct); n++) candidate = $"{slug}-{n}";
        return candidate;
    }

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NonSlug();
}
