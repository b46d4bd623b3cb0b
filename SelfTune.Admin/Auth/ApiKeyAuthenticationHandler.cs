using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;

namespace SelfTune.Admin.Auth;

/// <summary>
/// <c>Authorization: Bearer st_live_...</c> for the REST API. It only establishes who is calling;
/// <see cref="ApiAuthorization"/> turns a failure into the 401/402/403 problem answers.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    AdminDbContext db,
    TimeProvider clock,
    IChangeFeed changes,
    ApiKeyAuthenticationHandler.Failures failures)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    /// <summary>last_used_at is written at most this often per key, so busy scripts do not write on every call.</summary>
    static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Failed key attempts per client address (30 a minute): over that, every key from the address is refused with 429
    /// for a while before any lookup, so guessing keys costs the guesser, not the database.
    /// </summary>
    public sealed class Failures() : AddressFailureLimiter(30, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(10))
    {
        /// <summary>Set on the request when it was refused for its address's failures (ApiAuthorization answers 429).</summary>
        public const string RateLimitedItem = "selftune.api_key_rate_limited";
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return AuthenticateResult.NoResult();
        var address = Context.Connection.RemoteIpAddress;
        if (failures.IsBlocked(address))
        {
            Context.Items[Failures.RateLimitedItem] = failures.RetryAfterSeconds;
            return AuthenticateResult.Fail($"Too many failed API key attempts from this address; retry in {failures.RetryAfterSeconds} seconds.");
        }
        var result = await AuthenticateKeyAsync(header);
        if (result.Failure is not null) failures.CountFailure(address);
        return result;
    }

    async Task<AuthenticateResult> AuthenticateKeyAsync(string header)
    {
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return AuthenticateResult.Fail("The Authorization header must be 'Bearer <API key>'.");

        var key = header["Bearer ".Length..].Trim();
        if (key.Length is 0 or > 256) return AuthenticateResult.Fail("The API key is missing or malformed.");

        var hash = ApiKeyFormat.Hash(key);
        var found = await db.ApiKeys.AsNoTracking()
            .Where(k => k.Hash == hash)
            // The org's plan and suspension are read on every request, so an operator's change applies to the next call.
            .Join(db.Orgs, k => k.OrgId, o => o.Id, (k, o) => new { Key = k, o.Plan, o.SuspendedAt, o.SuspendedReason })
            .SingleOrDefaultAsync(Context.RequestAborted);
        if (found is null) return AuthenticateResult.Fail("The API key is not valid.");

        var now = clock.GetUtcNow();
        if (found.Key.RevokedAt is not null) return AuthenticateResult.Fail("The API key has been revoked.");
        if (found.Key.ExpiresAt <= now) return AuthenticateResult.Fail("The API key has expired.");

        if (found.Key.LastUsedAt is null || now - found.Key.LastUsedAt > LastUsedResolution)
        {
            await db.ApiKeys.Where(k => k.Id == found.Key.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now), Context.RequestAborted);
            changes.Publish(Change.OfApiKey(found.Key.OrgId, found.Key.Id));
        }

        var claims = new List<Claim>
        {
            new(SelfTuneClaims.OrgId, found.Key.OrgId.ToString()),
            new(SelfTuneClaims.ActorId, found.Key.Id.ToString()),
            new(SelfTuneClaims.Plan, found.Plan.ToString()),
            new(ClaimTypes.Name, found.Key.Name),
        };
        if (found.SuspendedAt is not null) claims.Add(new Claim(SelfTuneClaims.Suspended, found.SuspendedReason ?? ""));
        claims.AddRange(found.Key.Permissions.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => new Claim(SelfTuneClaims.Permission, p)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }
}
