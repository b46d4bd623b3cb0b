using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>
/// The app as deployed: Production, an OpenID Connect provider configured, reached over https at a real host name. The
/// provider's metadata is given, not fetched, so a challenge works without the provider; nothing here completes a sign-in.
/// </summary>
public sealed class ProductionApp : AdminAppFactory
{
    public const string Authority = "https://login.example.test/";
    public static readonly Uri BaseUrl = new("https://admin.example.test/");

    public ProductionApp()
    {
        EnvironmentName = Environments.Production;
        Settings["Authentication:Oidc:Authority"] = Authority;
        Settings["Authentication:Oidc:ClientId"] = "selftune";
        Settings["Authentication:Oidc:ClientSecret"] = "secret";
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.Configure<OpenIdConnectOptions>(OpenIdConnectDefaults.AuthenticationScheme, o =>
            o.Configuration = new OpenIdConnectConfiguration
            {
                Issuer = Authority,
                AuthorizationEndpoint = Authority + "authorize",
                TokenEndpoint = Authority + "token",
                EndSessionEndpoint = Authority + "logout",
            }));
    }

    /// <summary>A browser at <see cref="BaseUrl"/>: keeps cookies (the correlation cookie is Secure), follows no redirect.</summary>
    public HttpClient Browser() => CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = BaseUrl, AllowAutoRedirect = false, HandleCookies = true });

    /// <summary>Starts a sign-in and returns the <c>state</c> the app sent to the provider.</summary>
    public async Task<string> ChallengeAsync(HttpClient browser, string returnUrl)
    {
        using var response = await browser.GetAsync($"/account/signin?returnUrl={Uri.EscapeDataString(returnUrl)}");
        var location = response.Headers.Location;
        Assert.True(location?.AbsoluteUri.StartsWith(Authority + "authorize") == true, $"expected the provider, got {(int)response.StatusCode} {location}");
        return QueryHelpers.ParseQuery(location!.Query)["state"].ToString();
    }

    /// <summary>What the OIDC handler stored in <paramref name="state"/>: where the browser goes once signed in.</summary>
    public AuthenticationProperties ReadState(string state) =>
        Services.GetRequiredService<IOptionsMonitor<OpenIdConnectOptions>>().Get(OpenIdConnectDefaults.AuthenticationScheme)
            .StateDataFormat.Unprotect(state) ?? throw new InvalidOperationException("The state does not unprotect.");
}
