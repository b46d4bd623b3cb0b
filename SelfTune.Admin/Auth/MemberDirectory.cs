using System.Text.RegularExpressions;

namespace SelfTune.Admin.Auth;

/// <summary>
/// Maps a signed-in person (OIDC subject, or the development user) to one of their member rows and builds the cookie
/// principal. A person may belong to several orgs (one <see cref="Member"/> row per org, same <see cref="Member.Subject"/>);
/// the cookie names one, the org chosen last (<see cref="Member.LastSelectedAt"/>). A person seen for the first time
/// gets a personal org on <see cref="TenancySettings.DefaultPlan"/>, as Vercel and similar products do.
/// </summary>
public sealed partial class MemberDirectory(AdminDbContext db, TimeProvider clock, IOptions<TenancySettings> tenancy)
{
    public async Task<ClaimsIdentity> SignInAsync(ExternalIdentity person, string authenticationType, CancellationToken ct = default)
    {
        var (issuer, subject, name, email) = (person.Issuer, person.Subject, person.Name, person.Email);
        // Providers differ on a trailing slash in "iss"; one person must map to one member either way.
        var key = $"{issuer.TrimEnd('/')}|{subject}";
        var now = clock.GetUtcNow();
        var rows = await db.Members.Where(m => m.Subject == key).ToListAsync(ct);
        foreach (var row in rows)
        {
            if (name is not null) row.Name = name;
            if (email is not null) row.Email = email;
        }
        var member = ChosenLast(rows) ?? await AddPersonalOrgAsync(key, name ?? email ?? subject, email, now, ct);
        member.LastSignInAt = now;
        member.LastSelectedAt = now;
        await db.SaveChangesAsync(ct);
        var identity = await IdentityForAsync(member, authenticationType, ct);
        if (person.EmailVerified && email is not null) identity.AddClaim(new Claim(SelfTuneClaims.VerifiedEmail, email));
        var operatorByRole = tenancy.Value.RolesNameOperator(person.Roles);
        if (operatorByRole) identity.AddClaim(new Claim(SelfTuneClaims.OperatorByRole, "true"));
        if (operatorByRole || tenancy.Value.ListsOperator(subject, email, person.EmailVerified))
            identity.AddClaim(new Claim(SelfTuneClaims.Operator, "true"));
        return identity;
    }

    /// <summary>
    /// The current identity of a signed-in member (role and plan may have changed), or null when the member is gone.
    /// Operator standing from the configured list is read again; from the provider's role claim it is kept until the next sign-in,
    /// as is the verified e-mail address.
    /// </summary>
    public async Task<ClaimsIdentity?> RefreshAsync(Guid memberId, ClaimsPrincipal current, string authenticationType, CancellationToken ct = default)
    {
        var member = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == memberId, ct);
        return member is null ? null : await IdentityForAsync(member, current, authenticationType, ct);
    }

    /// <summary>
    /// The identity for the org <paramref name="current"/>'s person chose last, after a switch, a join, a new org, or
    /// leaving or deleting the org they were in; a person left with no org gets a fresh personal one when
    /// <paramref name="personalOrgWhenNone"/>. Null when the principal names no person (an API key), or has no org left.
    /// </summary>
    public async Task<ClaimsIdentity?> LandAsync(ClaimsPrincipal current, string authenticationType, bool personalOrgWhenNone = true, CancellationToken ct = default)
    {
        var subject = await SubjectOfAsync(current, ct);
        if (subject is null) return null;
        var now = clock.GetUtcNow();
        var member = ChosenLast(await db.Members.Where(m => m.Subject == subject).ToListAsync(ct));
        if (member is null && !personalOrgWhenNone) return null;
        member ??= await AddPersonalOrgAsync(subject, current.Identity?.Name ?? "My", current.FindFirstValue(ClaimTypes.Email) is { Length: > 0 } e ? e : null, now, ct);
        member.LastSelectedAt ??= now;
        await db.SaveChangesAsync(ct);
        return await IdentityForAsync(member, current, authenticationType, ct);
    }

    /// <summary>
    /// Switches <paramref name="current"/>'s person to their member row in <paramref name="orgId"/> and remembers the
    /// choice; null when they are not a member of it (only one's own rows, found by subject, can be switched to).
    /// </summary>
    public async Task<ClaimsIdentity?> SwitchAsync(ClaimsPrincipal current, Guid orgId, string authenticationType, CancellationToken ct = default)
    {
        var subject = await SubjectOfAsync(current, ct);
        if (subject is null) return null;
        var member = await db.Members.SingleOrDefaultAsync(m => m.Subject == subject && m.OrgId == orgId, ct);
        if (member is null) return null;
        member.LastSelectedAt = clock.GetUtcNow();
        await db.SaveChangesAsync(ct);
        return await IdentityForAsync(member, current, authenticationType, ct);
    }

    Task<string?> SubjectOfAsync(ClaimsPrincipal current, CancellationToken ct) => SubjectOfAsync(db, current, ct);

    /// <summary>
    /// The person behind a browser principal (their <see cref="Member.Subject"/>): from the cookie, or, for cookies issued
    /// before it carried one, from their member row. Null for an API key, which is no person.
    /// </summary>
    internal static async Task<string?> SubjectOfAsync(AdminDbContext db, ClaimsPrincipal current, CancellationToken ct)
    {
        if (current.Identity?.AuthenticationType == ApiKeyAuthenticationHandler.SchemeName) return null;
        if (current.FindFirstValue(SelfTuneClaims.Subject) is { Length: > 0 } subject) return subject;
        if (!Guid.TryParse(current.FindFirstValue(ClaimTypes.NameIdentifier), out var memberId)) return null;
        return await db.Members.Where(m => m.Id == memberId).Select(m => m.Subject).SingleOrDefaultAsync(ct);
    }

    /// <summary>The org chosen last, then the one signed in to last, then the oldest membership.</summary>
    static Member? ChosenLast(List<Member> rows) => rows
        .OrderByDescending(m => m.LastSelectedAt ?? DateTimeOffset.MinValue)
        .ThenByDescending(m => m.LastSignInAt ?? DateTimeOffset.MinValue)
        .ThenBy(m => m.CreatedAt)
        .FirstOrDefault();

    async Task<Member> AddPersonalOrgAsync(string subject, string display, string? email, DateTimeOffset now, CancellationToken ct)
    {
        var org = new Org { Slug = await FreeSlugAsync(db, display, ct), Name = $"{display}'s org", Plan = tenancy.Value.DefaultPlan, CreatedAt = now };
        var member = new Member { OrgId = org.Id, Subject = subject, Name = display, Email = email, Role = MemberRole.Owner, CreatedAt = now };
        db.Orgs.Add(org);
        db.Members.Add(member);
        return member;
    }

    /// <summary>The identity for <paramref name="member"/>, keeping what only the sign-in knew (operator by role, verified e-mail).</summary>
    async Task<ClaimsIdentity> IdentityForAsync(Member member, ClaimsPrincipal current, string authenticationType, CancellationToken ct)
    {
        var identity = await IdentityForAsync(member, authenticationType, ct);
        if (current.FindFirstValue(SelfTuneClaims.VerifiedEmail) is { Length: > 0 } verified)
            identity.AddClaim(new Claim(SelfTuneClaims.VerifiedEmail, verified));
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
            new Claim(SelfTuneClaims.Subject, member.Subject),
            new Claim(SelfTuneClaims.OrgId, org.Id.ToString()),
            new Claim(SelfTuneClaims.ActorId, member.Id.ToString()),
            new Claim(SelfTuneClaims.Role, member.Role.ToString()),
            new Claim(SelfTuneClaims.Plan, org.Plan.ToString()),
            new Claim(SelfTuneClaims.OrgName, org.Name),
        ], authenticationType, ClaimTypes.Name, SelfTuneClaims.Role);
        if (org.SuspendedAt is not null) identity.AddClaim(new Claim(SelfTuneClaims.Suspended, org.SuspendedReason ?? ""));
        return identity;
    }

    /// <summary>A slug for a new org from a person's or org's name: lower-case letters and digits, made unique with -2, -3...</summary>
    internal static async Task<string> FreeSlugAsync(AdminDbContext db, string display, CancellationToken ct)
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
