using Microsoft.AspNetCore.DataProtection;

namespace SelfTune.Admin.GitHub;

/// <summary>What the setup page shows about an App created through the manifest flow (no secrets).</summary>
public sealed record StoredAppInfo(long AppId, string Slug, string? HtmlUrl, DateTimeOffset CreatedAt);

/// <summary>
/// GitHub App credentials obtained through GitHub's App manifest flow (SPEC section 3): one row (<c>StoredApps</c>, Id 1),
/// the private key and webhook secret encrypted with ASP.NET Data Protection. Reads are cached briefly because the
/// client factory asks for credentials on every App request.
/// </summary>
public sealed class StoredAppCredentials(IDbContextFactory<AdminDbContext> dbFactory, IDataProtectionProvider protection, TimeProvider clock)
{
    const int RowId = 1;
    static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(30);

    readonly Lock gate = new();
    (GitHubAppCredentials? Credentials, DateTimeOffset ReadAt)? cache;

    IDataProtector Protector => protection.CreateProtector("SelfTune.GitHub.StoredApp");

    /// <summary>The stored credentials, or null when no App was created through the manifest flow.</summary>
    public async ValueTask<GitHubAppCredentials?> GetAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        lock (gate)
        {
            if (cache is { } c && now - c.ReadAt < CacheLifetime) return c.Credentials;
        }
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var row = await db.StoredApps.AsNoTracking().SingleOrDefaultAsync(a => a.Id == RowId, ct);
        GitHubAppCredentials? credentials = null;
        if (row is not null)
        {
            try
            {
                credentials = new GitHubAppCredentials(row.AppId, row.Slug, Protector.Unprotect(row.ProtectedPrivateKey), Protector.Unprotect(row.ProtectedWebhookSecret));
            }
            catch (System.Security.Cryptography.CryptographicException e)
            {
                // The data protection keys changed (lost key ring): the stored App cannot be used, and saying so beats a 500.
                throw new GitHubNotConfiguredException([$"{GitHubOptions.SectionName}:{nameof(GitHubOptions.PrivateKey)}"],
                    $"The GitHub App '{row.Slug}' created from /settings/github cannot be decrypted (the data protection keys changed). " +
                    "Configure the App settings, or remove the stored App and create it again.", e);
            }
        }
        lock (gate) cache = (credentials, now);
        return credentials;
    }

    /// <summary>The stored App's OAuth client (id and secret), or null when none is stored with it.</summary>
    public async Task<GitHubOAuthClient?> GetOAuthClientAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var row = await db.StoredApps.AsNoTracking().SingleOrDefaultAsync(a => a.Id == RowId, ct);
        if (row?.ClientId is not { Length: > 0 } clientId || row.ProtectedClientSecret is null) return null;
        try
        {
            return new GitHubOAuthClient(clientId, Protector.Unprotect(row.ProtectedClientSecret));
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null; // the key ring changed: as if no secret were stored (GetAsync explains the lost key ring)
        }
    }

    public async Task<StoredAppInfo?> GetInfoAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.StoredApps.AsNoTracking().Where(a => a.Id == RowId)
            .Select(a => new StoredAppInfo(a.AppId, a.Slug, a.HtmlUrl, a.CreatedAt)).SingleOrDefaultAsync(ct);
    }

    /// <summary>
    /// Stores a newly created App, recorded in the audit log of <paramref name="createdBy"/>'s org. Refuses to replace one
    /// that is already stored: its installations would stop working.
    /// </summary>
    public async Task<StoredAppInfo> SaveAsync(Actor createdBy, long appId, string slug, string privateKeyPem, string webhookSecret, string? htmlUrl,
        CancellationToken ct, GitHubOAuthClient? oauthClient = null)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await db.StoredApps.AsNoTracking().SingleOrDefaultAsync(a => a.Id == RowId, ct) is { } existing)
            throw ProblemException.Conflict($"A GitHub App ('{existing.Slug}') was already created from this page; SelfTune keeps using it.");
        var row = new StoredGitHubApp
        {
            Id = RowId, AppId = appId, Slug = slug, HtmlUrl = htmlUrl, CreatedAt = clock.GetUtcNow(),
            ProtectedPrivateKey = Protector.Protect(privateKeyPem), ProtectedWebhookSecret = Protector.Protect(webhookSecret),
            ClientId = oauthClient?.ClientId, ProtectedClientSecret = oauthClient is null ? null : Protector.Protect(oauthClient.ClientSecret),
        };
        db.StoredApps.Add(row);
        AuditLog.Record(db, createdBy, row.CreatedAt, "github.app_create", "app", appId.ToString(System.Globalization.CultureInfo.InvariantCulture), slug,
            $"GitHub App {slug} created through the manifest flow" + (oauthClient is null ? "" : ", with its OAuth client"));
        try { await db.SaveChangesAsync(ct); }
        catch (DbUpdateException)
        {
            throw ProblemException.Conflict("A GitHub App was created from this page at the same moment; SelfTune keeps using that one.");
        }
        Invalidate();
        return new StoredAppInfo(row.AppId, row.Slug, row.HtmlUrl, row.CreatedAt);
    }

    public void Invalidate()
    {
        lock (gate) cache = null;
    }
}

/// <summary>
/// The product's App credentials: the configured ones when configuration is complete (configuration wins), otherwise
/// the ones stored by the manifest flow. Replaces <see cref="ConfiguredGitHubAppCredentials"/> as
/// <see cref="IGitHubAppCredentialSource"/>.
/// </summary>
public sealed class GitHubAppCredentialSource(ConfiguredGitHubAppCredentials configured, StoredAppCredentials stored) : IGitHubAppCredentialSource
{
    public async ValueTask<GitHubAppCredentials?> GetAsync(CancellationToken ct) =>
        await configured.GetAsync(ct) ?? await stored.GetAsync(ct);

    /// <summary>Where the credentials in use come from, for the setup page.</summary>
    public async Task<GitHubAppOrigin> GetOriginAsync(CancellationToken ct) =>
        await configured.GetAsync(ct) is not null ? GitHubAppOrigin.Configuration
        : await stored.GetAsync(ct) is not null ? GitHubAppOrigin.Stored
        : GitHubAppOrigin.None;
}

public enum GitHubAppOrigin { None, Configuration, Stored }
