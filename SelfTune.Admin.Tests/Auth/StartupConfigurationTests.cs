using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>Outside Development the app refuses to start without an OpenID Connect provider, and says what is missing.</summary>
public sealed class StartupConfigurationTests
{
    sealed class ProductionApp(string? authority, string? clientId) : WebApplicationFactory<Program>
    {
        public readonly string DataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment("Production");
            builder.UseSetting("Storage:DataPath", DataPath);
            builder.UseSetting("Authentication:Oidc:Authority", authority ?? "");
            builder.UseSetting("Authentication:Oidc:ClientId", clientId ?? "");
        }
    }

    [Fact]
    public void Production_without_oidc_names_the_missing_settings()
    {
        using var app = new ProductionApp(null, null);
        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        var message = error is AggregateException a ? a.Flatten().InnerExceptions[0].Message : error.InnerException?.Message ?? error.Message;
        Assert.Contains("Authentication:Oidc:Authority", message);
        Assert.Contains("Authentication:Oidc:ClientId", message);
    }

    [Fact]
    public void Production_without_client_id_names_only_that()
    {
        using var app = new ProductionApp("https://login.example.com", null);
        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        var message = error.InnerException?.Message ?? error.Message;
        Assert.Contains("Authentication:Oidc:ClientId", message);
        Assert.DoesNotContain("Authentication:Oidc:Authority", message);
    }

    [Fact]
    public async Task Production_with_oidc_starts_and_sends_browsers_to_the_provider()
    {
        using var app = new ProductionApp("https://login.example.com", "selftune");
        // The provider's discovery document is fetched on the first challenge; the health endpoints need none of it.
        var client = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await client.PostAsync("/account/dev-signin", null)).StatusCode);
    }
}
