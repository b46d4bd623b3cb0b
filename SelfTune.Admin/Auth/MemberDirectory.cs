using System.Text.RegularExpressions;

namespace SelfTune.Admin.Auth;

/// <summary>
/// Maps a signed-in person (OIDC subject, or the development user) to a member of an org and builds the
/// cookie principal. A person seen for the first time gets a personal org on the free plan, as Vercel
/// and similar products do; an owner can then upgrade it or invite others.
/// </summary>
public sealed partial class MemberDirectory(AdminDbContext db, TimeProvider clock)
{
    public async Task<ClaimsIdentity> SignInAsync(string issuer, string subject, string? name, string? email, string authenticationType, CancellationToken ct = default)
    {
        // Providers differ on a trailing slash in "iss"; one person must map to one member either way.
        var key = $"{issuer.TrimEnd('/')}|{subject}";
        var now = clock.GetUtcNow();
        var member = await db.Members.OrderBy(m => m.CreatedAt).FirstOrDefaultAsync(m => m.Subject == key, ct);
        if (member is null)
        {
            var display = name ?? email ?? subject;
            var org = new Org { Slug = await FreeSlugAsync(display, ct), Name = $"{display}'s org", Plan = Plan.Free, CreatedAt = now };
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
        return await IdentityForAsync(member, authenticationType, ct);
    }

    /// <summary>The current identity of a signed-in member (role and plan may have changed), or null when the member is gone.</summary>
    public async Task<ClaimsIdentity?> RefreshAsync(Guid memberId, string authenticationType, CancellationToken ct = default)
    {
        var member = await db.Members.AsNoTracking().SingleOrDefaultAsync(m => m.Id == memberId, ct);
        return member is null ? null : await IdentityForAsync(member, authenticationType, ct);
    }

    async Task<ClaimsIdentity> IdentityForAsync(Member member, string authenticationType, CancellationToken ct)
    {
        var org = await db.Orgs.AsNoTracking().SingleAsync(o => o.Id == member.OrgId, ct);
        return new ClaimsIdentity(
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
