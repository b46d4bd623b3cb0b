using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;

namespace SelfTune.Admin.Auth;

/// <summary>
/// Who a caller is: browsers sign in with a cookie (OpenID Connect, or the development sign-in), API callers send a key
/// as a Bearer token. Also the members and API-key services the pages use.
/// </summary>
public static class AuthenticationSetup
{
    const string BrowserOrApiKey = "BrowserOrApiKey";

    public static void AddSelfTuneAuthentication(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddScoped<MemberDirectory>();
        services.AddScoped<MemberService>();
        services.AddScoped<InvitationService>();
        services.AddScoped<OrgService>();
        services.AddScoped<ApiKeyService>();
        services.AddSingleton<ApiKeyAuthenticationHandler.Failures>();
        services.AddScoped<OrgStandings>();
        services.AddScoped<OperatorService>();

        var oidc = builder.Configuration.GetSection("Authentication:Oidc").Get<OidcSettings>() ?? new OidcSettings();
        if (!builder.Environment.IsDevelopment() && oidc.MissingSettings().ToList() is { Count: > 0 } missing)
            throw new InvalidOperationException(
                $"Browser sign-in needs an OpenID Connect provider outside Development. Missing settings: {string.Join(", ", missing)}.");
        services.AddSingleton(oidc);
        services.Configure<TenancySettings>(builder.Configuration.GetSection("SelfTune"));

        var auth = services.AddAuthentication(o =>
            {
                o.DefaultSignInScheme = CookieAuthenticationDefaults.AuthenticationScheme;
                o.DefaultScheme = BrowserOrApiKey;
                o.DefaultChallengeScheme = oidc.IsConfigured ? OpenIdConnectDefaults.AuthenticationScheme : CookieAuthenticationDefaults.AuthenticationScheme;
            })
            .AddCookie(o =>
            {
                o.LoginPath = "/account/signin";
                o.Cookie.Name = "selftune.auth";
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.Cookie.SecurePolicy = CookieSecurity(builder.Environment);
                o.ExpireTimeSpan = TimeSpan.FromHours(12);
                o.SlidingExpiration = true;
                o.Events.OnValidatePrincipal = RevalidateMemberAsync;
            })
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            // Bearer requests are API-key callers, everything else is a browser with the sign-in cookie. Deciding here means
            // HttpContext.User is the key's principal before endpoint parameters are bound.
            .AddPolicyScheme(BrowserOrApiKey, BrowserOrApiKey, o => o.ForwardDefaultSelector = http =>
                http.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                    ? ApiKeyAuthenticationHandler.SchemeName
                    : CookieAuthenticationDefaults.AuthenticationScheme);

        if (oidc.IsConfigured)
        {
            auth.AddOpenIdConnect(o =>
            {
                o.Authority = oidc.Authority;
                o.ClientId = oidc.ClientId;
                o.ClientSecret = oidc.ClientSecret;
                o.RequireHttpsMetadata = oidc.RequireHttpsMetadata;
                o.ResponseType = "code";
                o.UsePkce = true;
                o.MapInboundClaims = false;
                o.Scope.Clear();
                foreach (var scope in new[] { "openid", "profile", "email" }) o.Scope.Add(scope);
                o.Events.OnRemoteFailure = AccountApi.ShowSignInFailureAsync;
                o.Events.OnTicketReceived = async context =>
                {
                    // Replace the provider's principal by our member principal (org, role, plan).
                    var services = context.HttpContext.RequestServices;
                    var person = ExternalIdentity.FromOidc(context.Principal!, oidc.Authority!, services.GetRequiredService<IOptions<TenancySettings>>().Value);
                    var identity = await services.GetRequiredService<MemberDirectory>().SignInAsync(
                        person, CookieAuthenticationDefaults.AuthenticationScheme, context.HttpContext.RequestAborted);
                    context.Principal = new ClaimsPrincipal(identity);
                };
            });
        }
        services.AddAuthorization();
    }

    /// <summary>
    /// The sign-in and antiforgery cookies are Secure outside Development, where the app is reached over https (directly
    /// or through a proxy, see <see cref="Infrastructure.ReverseProxy"/>); in Development, often plain http, they follow the request.
    /// </summary>
    public static CookieSecurePolicy CookieSecurity(IHostEnvironment env) =>
        env.IsDevelopment() ? CookieSecurePolicy.SameAsRequest : CookieSecurePolicy.Always;

    /// <summary>How long a sign-in cookie's role and plan are trusted before they are read again.</summary>
    static readonly TimeSpan MemberRecheck = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Role and plan live in the cookie; every few minutes they are read again, so a demotion, a removal or an upgrade
    /// takes effect without signing out. A member who no longer exists (removed, left, org deleted) moves to another of
    /// the person's orgs, or is signed out when they have none.
    /// </summary>
    static async Task RevalidateMemberAsync(CookieValidatePrincipalContext context)
    {
        var clock = context.HttpContext.RequestServices.GetRequiredService<TimeProvider>();
        var now = clock.GetUtcNow();
        if (context.Properties.Items.TryGetValue("selftune.checked", out var last)
            && DateTimeOffset.TryParse(last, out var checkedAt) && now - checkedAt < MemberRecheck)
            return;
        if (!Guid.TryParse(context.Principal?.FindFirstValue(ClaimTypes.NameIdentifier), out var memberId))
        {
            context.RejectPrincipal();
            return;
        }
        var members = context.HttpContext.RequestServices.GetRequiredService<MemberDirectory>();
        var identity = await members.RefreshAsync(memberId, context.Principal!, CookieAuthenticationDefaults.AuthenticationScheme, context.HttpContext.RequestAborted)
                       ?? await members.LandAsync(context.Principal!, CookieAuthenticationDefaults.AuthenticationScheme, personalOrgWhenNone: false, context.HttpContext.RequestAborted);
        if (identity is null)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return;
        }
        context.ReplacePrincipal(new ClaimsPrincipal(identity));
        context.Properties.Items["selftune.checked"] = now.ToString("O");
        context.ShouldRenew = true;
    }
}
