namespace SelfTune.Admin.Data;

/// <summary>
/// Development defaults (SPEC section 2): org <c>acme</c> on <c>pro</c> with the development user as owner and,
/// when <c>Development:ApiKey</c> is set, an API key with exactly that value so scripts work at once.
/// </summary>
public static class DevelopmentSeed
{
    public const string Issuer = "development";
    public const string Subject = "developer";
    public const string UserName = "Dev Developer";
    public const string UserEmail = "dev@selftune.local";
    public const string OrgSlug = "acme";

    public static async Task ApplyAsync(AdminDbContext db, IConfiguration config, TimeProvider clock, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        var org = await db.Orgs.SingleOrDefaultAsync(o => o.Slug == OrgSlug, ct);
        if (org is null)
        {
            org = new Org { Slug = OrgSlug, Name = "Acme", Plan = Plan.Pro, CreatedAt = now };
            db.Orgs.Add(org);
        }
        var subject = $"{Issuer}|{Subject}";
        if (!await db.Members.AnyAsync(m => m.Subject == subject, ct))
            db.Members.Add(new Member { OrgId = org.Id, Subject = subject, Name = UserName, Email = UserEmail, Role = MemberRole.Owner, CreatedAt = now });

        var key = config["Development:ApiKey"];
        if (!string.IsNullOrWhiteSpace(key))
        {
            var hash = ApiKeyFormat.Hash(key);
            if (!await db.ApiKeys.AnyAsync(k => k.Hash == hash, ct))
                db.ApiKeys.Add(new ApiKey
                {
                    OrgId = org.Id, Name = "Development key (Development:ApiKey)", Prefix = ApiKeyFormat.VisiblePrefix(key), Hash = hash,
                    Permissions = string.Join(' ', SelfTuneClaims.AllPermissions), CreatedAt = now,
                });
        }
        await db.SaveChangesAsync(ct);
    }
}
