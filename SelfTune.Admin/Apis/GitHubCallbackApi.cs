using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;

namespace SelfTune.Admin.Apis;

/// <summary>
/// The GitHub App's Callback URL (<c>/settings/github/callback</c>): GitHub's user authorization, after an install or
/// configure ("Request user authorization (OAuth) during installation") or after "Connect an installation you already
/// have", sends the browser here with <c>code</c>, <c>state</c> and, from an install, <c>installation_id</c> and
/// <c>setup_action</c>. An endpoint, not a page: the code works once, and a page runs twice (prerendered, then live).
/// It proves, binds and sends the browser on to <c>/settings/github</c> with the outcome.
/// </summary>
public static class GitHubCallbackApi
{
    const string SetupPage = "/" + AppManifest.SetupPath;

    public static IEndpointRouteBuilder MapGitHubCallbackApi(this IEndpointRouteBuilder app)
    {
        // The signed-in browser only: an API key cannot finish a browser's authorization.
        app.MapGet("/" + AppManifest.UserAuthorizationPath, CallbackAsync).ExcludeFromDescription()
            .RequireAuthorization(new AuthorizeAttribute { AuthenticationSchemes = CookieAuthenticationDefaults.AuthenticationScheme });
        return app;
    }

    static async Task<IResult> CallbackAsync(string? code, string? installation_id, string? setup_action, string? state, string? error,
        ClaimsPrincipal user, InstallationBinder binder, OrgStandings standings, IDataProtectionProvider protection, CancellationToken ct)
    {
        // An organization member asked its owners to install the App: nothing to bind yet.
        if (setup_action == "request") return Results.LocalRedirect($"{SetupPage}?setup_action=request");
        try
        {
            // The org's current plan, not the cookie's copy: an operator's upgrade applies at once.
            if ((await standings.OfAsync(user.GetOrgId(), ct)).Plan < Plan.Pro)
                throw new ProblemException(402, "plan_required", "The GitHub integration needs the Pro plan or higher.");
            if (!string.IsNullOrEmpty(error))
                throw new ProblemException(403, "installation_unverified",
                    "You did not authorize the App on GitHub, so SelfTune cannot tell which installations your GitHub account can access. Start again to authorize it.");
            var actor = Actor.From(user);
            await binder.ProveAsync(actor, state, code, ct);
            // "Connect an installation you already have": the page lists what was proved, the person picks one.
            if (!long.TryParse(installation_id, out var id) || id <= 0)
                return Results.LocalRedirect($"{SetupPage}?connect={Uri.EscapeDataString(state!)}");
            var result = await binder.BindInstallationAsync(actor, id, null, null, state, ct);
            // A bound installation that GitHub says was configured: the page reads it again (permissions may have changed).
            if (!result.Created && setup_action == "update") return Results.LocalRedirect($"{SetupPage}?installation_id={id}&setup_action=update");
            return Results.LocalRedirect($"{SetupPage}?bound={id}" + (result.Created ? "" : "&already=1"));
        }
        catch (ProblemException e)
        {
            return Results.LocalRedirect($"{SetupPage}?bind_error={Uri.EscapeDataString(ProtectRefusal(protection, e))}");
        }
    }

    // The page shows the refusal the service made. It travels in the address, so it is protected: nobody can craft a link
    // that makes the page say something else.
    static ITimeLimitedDataProtector RefusalProtector(IDataProtectionProvider protection) =>
        protection.CreateProtector("SelfTune.GitHub.BindRefusal").ToTimeLimitedDataProtector();

    sealed record Refusal(int Status, string Code, string Message);

    static string ProtectRefusal(IDataProtectionProvider protection, ProblemException e) =>
        RefusalProtector(protection).Protect(JsonSerializer.Serialize(new Refusal(e.Status, e.Code, e.Message)), TimeSpan.FromMinutes(10));

    /// <summary>The refusal in a <c>bind_error</c> value, or null when it is not one this server made in the last minutes.</summary>
    public static ProblemException? ReadRefusal(IDataProtectionProvider protection, string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        try
        {
            var r = JsonSerializer.Deserialize<Refusal>(RefusalProtector(protection).Unprotect(value, out _));
            return r is null ? null : new ProblemException(r.Status, r.Code, r.Message);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or JsonException or FormatException)
        {
            return null;
        }
    }
}
