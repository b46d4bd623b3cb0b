using System.Globalization;

namespace SelfTune.Admin.Auth;

public sealed record CreatedApiKey(ApiKey Key, string Secret);

/// <summary>
/// API keys of an org: created (the secret is returned once), listed, revoked. Admins and owners only.
/// Each call uses its own DbContext, so a page (whose circuit outlives requests) can hold this service.
/// </summary>
public sealed class ApiKeyService(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock, IChangeFeed changes)
{
    public async Task<CreatedApiKey> CreateAsync(ClaimsPrincipal user, string name, IReadOnlyCollection<string> permissions, DateTimeOffset? expiresAt, CancellationToken ct = default)
    {
        RequireAdmin(user);
        name = name.Trim();
        if (name.Length is 0 or > 100) throw ProblemException.Invalid("name", "Give the key a name of 1-100 characters.");
        if (permissions.Count == 0 || permissions.Except(SelfTuneClaims.AllPermissions).Any())
            throw ProblemException.Invalid("permissions", $"Choose at least one of: {string.Join(", ", SelfTuneClaims.AllPermissions)}.");
        var now = clock.GetUtcNow();
        if (expiresAt <= now) throw ProblemException.Invalid("expires_at", "The expiry must be in the future.");

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var secret = ApiKeyFormat.Generate();
        var key = new ApiKey
        {
            OrgId = user.GetOrgId(), Name = name, Prefix = ApiKeyFormat.VisiblePrefix(secret), Hash = ApiKeyFormat.Hash(secret),
            Permissions = string.Join(' ', SelfTuneClaims.AllPermissions.Where(permissions.Contains)),
            CreatedAt = now, CreatedBy = user.GetActorId(), ExpiresAt = expiresAt,
        };
        db.ApiKeys.Add(key);
        AuditLog.Record(db, Actor.From(user), now, "api_key.create", "api_key", key.Id.ToString(), key.Name,
            $"{key.Prefix}…, permissions {key.Permissions}, expires {(expiresAt is { } at ? at.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : "never")}");
        await db.SaveChangesAsync(ct);
        changes.Publish(Change.OfApiKey(key.OrgId, key.Id));
        return new CreatedApiKey(key, secret);
    }

    public async Task<List<ApiKey>> ListAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        var orgId = user.GetOrgId();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.ApiKeys.AsNoTracking().Where(k => k.OrgId == orgId).OrderByDescending(k => k.CreatedAt).ToListAsync(ct);
    }

    public async Task RevokeAsync(ClaimsPrincipal user, Guid id, CancellationToken ct = default)
    {
        RequireAdmin(user);
        var orgId = user.GetOrgId();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var key = await db.ApiKeys.SingleOrDefaultAsync(k => k.Id == id && k.OrgId == orgId, ct)
            ?? throw ProblemException.NotFound("No such API key.");
        if (key.RevokedAt is null)
        {
            key.RevokedAt = clock.GetUtcNow();
            AuditLog.Record(db, Actor.From(user), key.RevokedAt.Value, "api_key.revoke", "api_key", key.Id.ToString(), key.Name,
                AuditLog.Changed("status", "active", "revoked"));
        }
        await db.SaveChangesAsync(ct);
        changes.Publish(Change.OfApiKey(orgId, id));
    }

    static void RequireAdmin(ClaimsPrincipal user) => Actor.From(user).Require(MemberRole.Admin, "manage API keys");
}
