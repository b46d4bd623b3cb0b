using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Apis;

/// <summary>Browser sign-in and sign-out. Sign-in goes to the OIDC provider, or to the development sign-in page.</summary>
public static class AccountApi
{
    public static IEndpointRouteBuilder MapAccountApi(this IEndpointRouteBuilder app)
    {
        var account = app.MapGroup("/account").ExcludeFromDescription().AllowAnonymous();

        account.MapGet("/signin", (string? returnUrl, HttpContext http, OidcSettings oidc) =>
            oidc.IsConfigured
                ? Results.Challenge(new AuthenticationProperties { RedirectUri = LocalOnly(returnUrl) }, [OpenIdConnectDefaults.AuthenticationScheme])
                : Results.Redirect($"/account/login?returnUrl={Uri.EscapeDataString(LocalOnly(returnUrl))}"));

        // The development sign-in exists only in Development and only while no OIDC provider is configured.
        account.MapPost("/dev-signin", async (HttpContext http, MemberDirectory members, OidcSettings oidc, IHostEnvironment env, IAntiforgery antiforgery) =>
        {
            if (oidc.IsConfigured || !env.IsDevelopment()) return Results.NotFound();
            // The form is read by hand, so the antiforgery middleware does not check it on its own: no login CSRF.
            if (!await antiforgery.IsRequestValidAsync(http)) return Results.BadRequest();
            var form = await http.Request.ReadFormAsync();
            var identity = await members.SignInAsync(DevelopmentSeed.Issuer, DevelopmentSeed.Subject, DevelopmentSeed.UserName,
                DevelopmentSeed.UserEmail, CookieAuthenticationDefaults.AuthenticationScheme, http.RequestAborted);
            await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
            return Results.LocalRedirect(LocalOnly(form["returnUrl"]));
        });

        account.MapPost("/signout", async (HttpContext http, OidcSettings oidc) =>
        {
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            if (oidc.IsConfigured)
                return Results.SignOut(new AuthenticationProperties { RedirectUri = "/account/signed-out" }, [OpenIdConnectDefaults.AuthenticationScheme]);
            return Results.LocalRedirect("/account/signed-out");
        });
        return app;
    }

    static string LocalOnly(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//") && !url.StartsWith("/\\") ? url : "/";
}
