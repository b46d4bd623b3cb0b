using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SelfTune.Admin.Apis;

/// <summary>
/// Browser sign-in and sign-out. Sign-in goes to the OIDC provider, or to the development sign-in page; a sign-in the
/// provider refused or that could not be finished lands on <c>/account/signin-failed</c>, which says why. A signed-in
/// person switches org, joins one by invitation, or lands in their org chosen last (after creating, leaving or deleting
/// one): each re-issues the cookie for one of the person's own member rows.
/// </summary>
public static class AccountApi
{
    public static IEndpointRouteBuilder MapAccountApi(this IEndpointRouteBuilder app)
    {
        var account = app.MapGroup("/account").ExcludeFromDescription().AllowAnonymous();
        account.MapGet("/signin", SignIn);
        account.MapPost("/dev-signin", DevelopmentSignIn);
        account.MapPost("/signout", SignOut);

        var person = app.MapGroup("/account").ExcludeFromDescription().RequireAuthorization();
        person.MapPost("/switch-org", SwitchOrg);
        person.MapPost("/accept-invitation", AcceptInvitation);
        person.MapGet("/land", Land);
        return app;
    }

    static Results<ChallengeHttpResult, RedirectHttpResult> SignIn(string? returnUrl, OidcSettings oidc)
    {
        if (oidc.IsConfigured)
            return TypedResults.Challenge(new AuthenticationProperties { RedirectUri = LocalReturnUrl(returnUrl) }, [OpenIdConnectDefaults.AuthenticationScheme]);
        return TypedResults.Redirect($"/account/login?returnUrl={Uri.EscapeDataString(LocalReturnUrl(returnUrl))}");
    }

    /// <summary>The development sign-in exists only in Development and only while no OIDC provider is configured.</summary>
    static async Task<Results<NotFound, BadRequest, RedirectHttpResult>> DevelopmentSignIn(HttpContext http, [AsParameters] AccountServices services)
    {
        if (services.Oidc.IsConfigured || !services.Environment.IsDevelopment()) return TypedResults.NotFound();
        // The form is read by hand, so the antiforgery middleware does not check it on its own: no login CSRF.
        if (!await HasValidAntiforgeryTokenAsync(http, services.Antiforgery)) return TypedResults.BadRequest();
        var form = await http.Request.ReadFormAsync();
        var person = new ExternalIdentity(DevelopmentSeed.Issuer, DevelopmentSeed.Subject, DevelopmentSeed.UserName, DevelopmentSeed.UserEmail, EmailVerified: true, Roles: []);
        var identity = await services.Members.SignInAsync(person, CookieAuthenticationDefaults.AuthenticationScheme, http.RequestAborted);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        return TypedResults.LocalRedirect(LocalReturnUrl(form["returnUrl"]));
    }

    static async Task<Results<BadRequest, SignOutHttpResult, RedirectHttpResult>> SignOut(HttpContext http, [AsParameters] AccountServices services)
    {
        // Checked by hand like the development sign-in: without the token another site could sign people out.
        if (!await HasValidAntiforgeryTokenAsync(http, services.Antiforgery)) return TypedResults.BadRequest();
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        if (services.Oidc.IsConfigured)
            return TypedResults.SignOut(new AuthenticationProperties { RedirectUri = "/account/signed-out" }, [OpenIdConnectDefaults.AuthenticationScheme]);
        return TypedResults.LocalRedirect("/account/signed-out");
    }

    /// <summary>The org menu's switch: only to an org the person is a member of; remembered for the next sign-in.</summary>
    static async Task<Results<BadRequest, StatusCodeHttpResult, RedirectHttpResult>> SwitchOrg(HttpContext http, [AsParameters] AccountServices services)
    {
        if (!await HasValidAntiforgeryTokenAsync(http, services.Antiforgery)) return TypedResults.BadRequest();
        var form = await http.Request.ReadFormAsync();
        if (!Guid.TryParse(form["orgId"], out var orgId)) return TypedResults.BadRequest();
        var identity = await services.Members.SwitchAsync(http.User, orgId, CookieAuthenticationDefaults.AuthenticationScheme, http.RequestAborted);
        // Only reachable by a tampered form: a plain 403 (Forbid would send the browser to a missing access-denied page).
        if (identity is null) return TypedResults.StatusCode(StatusCodes.Status403Forbidden);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        return TypedResults.LocalRedirect("/");
    }

    /// <summary>The Join button of <c>/invite/{token}</c>: joins and lands in the org; a refused link goes back to its page, which says why.</summary>
    static async Task<Results<BadRequest, RedirectHttpResult>> AcceptInvitation(HttpContext http, InvitationService invitations, [AsParameters] AccountServices services)
    {
        if (!await HasValidAntiforgeryTokenAsync(http, services.Antiforgery)) return TypedResults.BadRequest();
        var token = (await http.Request.ReadFormAsync())["token"].ToString();
        var accepted = await invitations.AcceptAsync(http.User, token, http.RequestAborted);
        if (accepted.OrgId is not { } orgId
            || await services.Members.SwitchAsync(http.User, orgId, CookieAuthenticationDefaults.AuthenticationScheme, http.RequestAborted) is not { } identity)
            return TypedResults.LocalRedirect(LocalReturnUrl($"/invite/{Uri.EscapeDataString(token)}"));
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        return TypedResults.LocalRedirect("/");
    }

    /// <summary>
    /// Re-issues the cookie for the org the person chose last: after a page created an org (which it chose), or the person
    /// left or deleted theirs (a fresh personal org when none is left). Changes nothing another site could abuse.
    /// </summary>
    static async Task<RedirectHttpResult> Land(string? returnUrl, HttpContext http, [AsParameters] AccountServices services)
    {
        var identity = await services.Members.LandAsync(http.User, CookieAuthenticationDefaults.AuthenticationScheme, ct: http.RequestAborted);
        if (identity is null) return TypedResults.LocalRedirect("/");
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        return TypedResults.LocalRedirect(LocalReturnUrl(returnUrl));
    }

    /// <summary>Whether the posted form carries a valid antiforgery token; a form that cannot be read (e.g. a NUL in a value) does not.</summary>
    static async Task<bool> HasValidAntiforgeryTokenAsync(HttpContext http, IAntiforgery antiforgery)
    {
        try
        {
            return await antiforgery.IsRequestValidAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    /// <summary>
    /// <paramref name="url"/> when it is a path on this site, else "/". The framework's check refuses "//host", "/\host"
    /// and absolute URLs; control characters are refused outright, since browsers drop tabs and newlines from a Location
    /// ("/\t/evil.example" is followed as "//evil.example") and a NUL cannot be sent as a header.
    /// </summary>
    public static string LocalReturnUrl(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.Any(char.IsControl) && RedirectHttpResult.IsLocalUrl(url) ? url : "/";

    /// <summary>Why a sign-in failed, as <c>/account/signin-failed?reason=</c> names it.</summary>
    public static class SignInFailure
    {
        /// <summary>The person, or the provider on their behalf, declined (OAuth <c>access_denied</c>).</summary>
        public const string Denied = "denied";
        /// <summary>The provider answered with another error (e.g. <c>login_required</c>, <c>invalid_client</c>).</summary>
        public const string Provider = "provider";
        /// <summary>
        /// The answer could not be matched to a sign-in this browser started: no or unreadable state, a correlation cookie
        /// that is gone (too slow, another window, an old link), or a token that did not validate.
        /// </summary>
        public const string Interrupted = "interrupted";
    }

    /// <summary>
    /// The OIDC handler's remote failures (the provider's error, a bad state, a correlation failure) would otherwise be
    /// thrown as a 500: send the browser to a page that says what went wrong and offers to try again.
    /// </summary>
    public static Task ShowSignInFailureAsync(RemoteFailureContext context)
    {
        var http = context.HttpContext;
        var error = context.Failure?.Data["error"] as string ?? (string?)http.Request.Query["error"];
        var reason = error switch
        {
            "access_denied" => SignInFailure.Denied,
            { Length: > 0 } => SignInFailure.Provider,
            _ => SignInFailure.Interrupted,
        };
        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AccountApi))
            .LogWarning("OpenID Connect sign-in failed ({Reason}): {Message}", reason, context.Failure?.Message);
        var returnUrl = LocalReturnUrl(context.Properties?.RedirectUri);
        context.Response.Redirect($"/account/signin-failed?reason={reason}&returnUrl={Uri.EscapeDataString(returnUrl)}");
        context.HandleResponse();
        return Task.CompletedTask;
    }
}

/// <summary>The services the account endpoints use, bound with <c>[AsParameters]</c>.</summary>
public sealed record AccountServices(OidcSettings Oidc, MemberDirectory Members, IAntiforgery Antiforgery, IHostEnvironment Environment);
