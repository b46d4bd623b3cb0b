using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using Microsoft.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace SelfTune.Admin.E2E;

/// <summary>
/// A real OpenID Connect provider (OpenIddict 7) on a loopback port: authorization code flow with PKCE, a login form
/// that lists the test users, end-session. The app signs in through it exactly as it would through any provider.
/// </summary>
public sealed class OidcProvider : IAsyncDisposable
{
    public const string ClientId = "selftune-admin";
    public const string ClientSecret = "e2e-secret";

    /// <param name="Roles">Sent in the <c>roles</c> claim (the app's default <c>SelfTune:OperatorRoleClaim</c>).</param>
    /// <param name="EmailVerified">Whether the provider vouches for <paramref name="Email"/> (<c>email_verified</c>), as an e-mail-bound invitation needs.</param>
    public sealed record TestUser(string Subject, string Name, string Email, string[]? Roles = null, bool EmailVerified = false);

    /// <summary>The role appsettings.Development.json names in <c>SelfTune:OperatorRole</c>.</summary>
    public const string OperatorRole = "selftune-operator";

    public static readonly TestUser Alice = new("alice", "Alice Admin", "alice@acme.test");
    public static readonly TestUser Bob = new("bob", "Bob Other", "bob@other.test");
    /// <summary>An operator of the deployment by the provider's role claim; a member of no org until her first sign-in.</summary>
    public static readonly TestUser Olivia = new("olivia", "Olivia Operator", "olivia@ops.test", [OperatorRole]);
    /// <summary>A teammate Alice invites; nobody's member until she joins.</summary>
    public static readonly TestUser Carol = new("carol", "Carol Teammate", "carol@acme.test", EmailVerified: true);
    static readonly TestUser[] Users = [Alice, Bob, Olivia, Carol];

    readonly WebApplication app;
    public string Authority { get; }

    OidcProvider(WebApplication app, string authority)
    {
        this.app = app;
        Authority = authority;
    }

    public static async Task<OidcProvider> StartAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var dbName = Guid.NewGuid().ToString();
        builder.Services.AddDbContext<DbContext>(o => o.UseInMemoryDatabase(dbName).UseOpenIddict());
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o => { o.LoginPath = "/login"; o.Cookie.Name = "provider.auth"; });
        builder.Services.AddOpenIddict()
            .AddCore(o => o.UseEntityFrameworkCore().UseDbContext<DbContext>())
            .AddServer(o =>
            {
                o.SetAuthorizationEndpointUris("connect/authorize").SetTokenEndpointUris("connect/token")
                    .SetEndSessionEndpointUris("connect/logout").SetUserInfoEndpointUris("connect/userinfo");
                o.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
                o.RegisterScopes(Scopes.OpenId, Scopes.Profile, Scopes.Email);
                o.AddEphemeralEncryptionKey().AddEphemeralSigningKey().DisableAccessTokenEncryption();
                o.UseAspNetCore().EnableAuthorizationEndpointPassthrough().EnableEndSessionEndpointPassthrough()
                    .EnableUserInfoEndpointPassthrough().DisableTransportSecurityRequirement();
            });

        var app = builder.Build();
        app.UseAuthentication();
        MapEndpoints(app);
        await app.StartAsync();
        var authority = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/";

        // Warm up: the app fetches the discovery document on its first challenge.
        using var http = new HttpClient();
        (await http.GetAsync(authority + ".well-known/openid-configuration")).EnsureSuccessStatusCode();
        return new OidcProvider(app, authority);
    }

    /// <summary>Registers the app as a client once its address is known (it starts after the provider).</summary>
    public async Task RegisterClientAsync(string appBaseUrl)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var apps = scope.ServiceProvider.GetRequiredService<IOpenIddictApplicationManager>();
        await apps.CreateAsync(new OpenIddictApplicationDescriptor
        {
            ClientId = ClientId, ClientSecret = ClientSecret, ClientType = ClientTypes.Confidential,
            RedirectUris = { new Uri(appBaseUrl.TrimEnd('/') + "/signin-oidc") },
            PostLogoutRedirectUris = { new Uri(appBaseUrl.TrimEnd('/') + "/signout-callback-oidc") },
            Permissions =
            {
                Permissions.Endpoints.Authorization, Permissions.Endpoints.Token, Permissions.Endpoints.EndSession,
                Permissions.GrantTypes.AuthorizationCode, Permissions.ResponseTypes.Code,
                Permissions.Scopes.Profile, Permissions.Scopes.Email,
            },
            Requirements = { Requirements.Features.ProofKeyForCodeExchange },
        });
    }

    static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/login", (string? returnUrl) => Results.Content($$"""
            <!doctype html><html><head><title>Test identity provider</title></head>
            <body style="font-family: system-ui; max-width: 420px; margin: 4rem auto">
              <h1>Test identity provider</h1>
              <form method="post" action="/login">
                <input type="hidden" name="returnUrl" value="{{WebUtility.HtmlEncode(returnUrl ?? "/")}}" />
                <label>User <select name="user" id="user">
                  <option value="{{Alice.Subject}}">{{Alice.Name}}</option>
                  <option value="{{Bob.Subject}}">{{Bob.Name}}</option>
                  <option value="{{Olivia.Subject}}">{{Olivia.Name}}</option>
                  <option value="{{Carol.Subject}}">{{Carol.Name}}</option>
                </select></label>
                <button type="submit" id="sign-in">Sign in</button>
              </form>
            </body></html>
            """, "text/html"));

        app.MapPost("/login", async (HttpContext http) =>
        {
            var form = await http.Request.ReadFormAsync();
            var user = Users.Single(u => u.Subject == form["user"]);
            var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.Subject)], CookieAuthenticationDefaults.AuthenticationScheme);
            await http.SignInAsync(new ClaimsPrincipal(identity));
            var returnUrl = form["returnUrl"].ToString();
            return Results.Redirect(returnUrl.StartsWith('/') ? returnUrl : "/");
        });

        app.MapMethods("/connect/authorize", ["GET", "POST"], async (HttpContext http) =>
        {
            var request = http.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("Not an OpenID Connect request.");
            var cookie = await http.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            if (!cookie.Succeeded)
                return Results.Challenge(new AuthenticationProperties { RedirectUri = http.Request.PathBase + http.Request.Path + http.Request.QueryString });

            var user = Users.Single(u => u.Subject == cookie.Principal!.FindFirstValue(ClaimTypes.NameIdentifier));
            var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, user.Subject).SetClaim(Claims.Name, user.Name).SetClaim(Claims.Email, user.Email);
            if (user.Roles is { Length: > 0 } roles) identity.SetClaims("roles", [.. roles]);
            if (user.EmailVerified) identity.AddClaim(new Claim(Claims.EmailVerified, "true", ClaimValueTypes.Boolean));
            identity.SetScopes(request.GetScopes());
            identity.SetDestinations(_ => [Destinations.AccessToken, Destinations.IdentityToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        });

        app.MapMethods("/connect/logout", ["GET", "POST"], async (HttpContext http) =>
        {
            await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
        });
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
