using Microsoft.Extensions.DependencyInjection.Extensions;
using MudBlazor.Services;
using Scalar.AspNetCore;
using SelfTune.Admin.Components;
using SelfTune.Admin.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddSelfTuneAdmin();

var app = builder.Build();
app.UseSelfTuneAdmin();
app.LogStartupBanner();
await app.InitializeDatabaseAsync();
app.Run();

/// <summary>Visible to WebApplicationFactory in the tests.</summary>
public partial class Program;

namespace SelfTune.Admin.Extensions
{
    /// <summary>
    /// The composition root: the app's features (each <c>Add…</c> lives beside its feature) and the request pipeline in
    /// order. Tests that build the app by hand (<c>PlanGateApp</c>) call the same two methods.
    /// </summary>
    public static class SelfTuneAdmin
    {
        public static void AddSelfTuneAdmin(this WebApplicationBuilder builder)
        {
            builder.AddRepositoryDevelopmentSettings();
            builder.Services.AddSingleton(TimeProvider.System);

            builder.AddSelfTuneData();           // Data/DatabaseSetup.cs: database, Data Protection keys, archive store
            builder.Services.TryAddSingleton<IChangeFeed, InProcessChangeFeed>(); // one instance; on PostgreSQL AddSelfTuneData registered the feed that crosses instances
            builder.AddSelfTuneAuthentication(); // Auth/AuthenticationSetup.cs: cookie + OIDC, API keys, members
            builder.AddRegistry();               // Registry/RegistrySetup.cs
            builder.Services.AddJobQueue(builder.Configuration);
            builder.AddGitHubIntegration();      // GitHub/GitHubIntegrationSetup.cs: App client, webhooks, publishing, job handlers
            builder.AddSelfTuneApi();            // Apis/ApiSetup.cs: JSON, problem details, OpenAPI
            builder.Services.AddSelfTuneHealthChecks(); // Infrastructure/HealthSetup.cs: /healthz, /readyz
            builder.AddSelfTuneTelemetry();      // Infrastructure/SelfTuneTelemetry.cs: traces, metrics, exporters
            builder.AddSelfTuneRateLimits();     // Infrastructure/RateLimits.cs: sign-in endpoints per address

            // The pages (Components/); their queries open a context per call, from the factory.
            builder.Services.AddSingleton<OverviewQueries>();
            builder.Services.AddSingleton<AuditQueries>(); // the audit log page and GET /api/v1/audit
            builder.Services.AddAntiforgery(o => o.Cookie.SecurePolicy = AuthenticationSetup.CookieSecurity(builder.Environment));
            builder.Services.AddRazorComponents().AddInteractiveServerComponents();
            builder.Services.AddCascadingAuthenticationState();
            builder.Services.AddMudServices();
        }

        public static void UseSelfTuneAdmin(this WebApplication app)
        {
            // First, so everything after sees the client's address and scheme and every answer carries the headers.
            app.UseReverseProxy();
            if (!app.Environment.IsDevelopment()) app.UseHsts();
            app.UseSecurityHeaders();
            app.UseExceptionHandler(new ExceptionHandlerOptions
            {
                ExceptionHandlingPath = "/Error",
                CreateScopeForErrors = true,
                // Refusals and bad client input are answered, not errors worth a stack trace in the log.
                SuppressDiagnosticsCallback = c => c.Exception is ProblemException or BadHttpRequestException,
            });
            app.UseWhen(c => c.Request.Path.StartsWithSegments("/api"), api => api.UseStatusCodePages());
            // Pages re-execute as the not-found page; only for GET/HEAD, since a re-executed POST would reach the page as a form post.
            app.UseWhen(c => !c.Request.Path.StartsWithSegments("/api") && (HttpMethods.IsGet(c.Request.Method) || HttpMethods.IsHead(c.Request.Method)),
                pages => pages.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true));
            // Routing after the status code pages, so their re-executed request (/not-found) is routed again: with the implicit
            // routing at the start of the pipeline an unknown page answered 404 with an empty body (the browser's own error page).
            app.UseRouting();

            app.UseRateLimiter(); // before authentication, which handles the OIDC callback itself
            app.UseAuthentication();
            app.UseAuthorization();
            app.UseAntiforgery();

            app.MapStaticAssets();
            app.MapOpenApi().AllowAnonymous();
            app.MapScalarApiReference("/api-reference", o =>
                {
                    o.WithTitle("SelfTune Admin API").WithOpenApiRoutePattern("/openapi/{documentName}.json")
                        .DisableDefaultFonts() // its fonts come from Scalar's CDN, which the Content-Security-Policy does not allow
                        .DisableAgent().DisableMcp().HideDeveloperTools(); // "Ask AI", MCP and hosted-tool buttons call Scalar's services
                    o.Telemetry = false;
                })
                .AllowAnonymous();
            app.MapSelfTuneHealthChecks();
            app.MapSelfTuneMetrics();

            app.MapAccountApi();
            app.MapRegistryApi();
            app.MapGitHubApi();
            app.MapDeliveriesApi();
            app.MapGitHubCallbackApi(); // the App's Callback URL: GitHub's user authorization proves a binding
            app.MapGitHubWebhookApi();
            app.MapAuditApi();

            app.MapRazorComponents<App>().AddInteractiveServerRenderMode().RequireAuthorization();
        }
    }
}
