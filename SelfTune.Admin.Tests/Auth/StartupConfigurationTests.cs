using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Hosting;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>Outside Development the app refuses to start without an OpenID Connect provider, and says what is missing.</summary>
public sealed class StartupConfigurationTests
{
    /// <summary>The app in Production with exactly these provider settings (null: not set).</summary>
    static AdminAppFactory ProductionWith(string? authority, string? clientId) => new()
    {
        EnvironmentName = Environments.Production,
        Settings = { ["Authentication:Oidc:Authority"] = authority ?? "", ["Authentication:Oidc:ClientId"] = clientId ?? "" },
    };

    [Fact]
    public void Production_without_oidc_names_the_missing_settings()
    {
        using var app = ProductionWith(null, null);
        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        var message = error is AggregateException a ? a.Flatten().InnerExceptions[0].Message : error.InnerException?.Message ?? error.Message;
        Assert.Contains("Authentication:Oidc:Authority", message);
        Assert.Contains("Authentication:Oidc:ClientId", message);
    }

    [Fact]
    public void Production_without_client_id_names_only_that()
    {
        using var app = ProductionWith("https://login.example.com", null);
        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        var message = error.InnerException?.Message ?? error.Message;
        Assert.Contains("Authentication:Oidc:ClientId", message);
        Assert.DoesNotContain("Authentication:Oidc:Authority", message);
    }

    [Fact]
    public async Task Production_with_oidc_starts_and_sends_browsers_to_the_provider()
    {
        using var app = ProductionWith("https://login.example.com", "selftune");
        // The provider's discovery document is fetched on the first challenge; the health endpoints need none of it.
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await client.PostAsync("/account/dev-signin", null)).StatusCode);
    }
}
