using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.OpenApi;
using MudBlazor.Services;
using Scalar.AspNetCore;
using SelfTune.Admin.Apis;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Components;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Registry;

namespace SelfTune.Admin.Extensions;

/// <summary>All service registration and the request pipeline, so Program.cs stays a few lines.</summary>
public static class Extensions
{
    public static void AddSelfTuneAdmin(this WebApplicationBuilder builder)
    {
        AddRepositoryDevelopmentSettings(builder);
        var services = builder.Services;
        var config = builder.Configuration;
        var env = builder.Environment;

        services.AddSingleton(TimeProvider.System);

        // Data: SQLite file under the data folder unless a connection string says otherwise.
        var dataDir = Path.GetFullPath(config["Storage:DataPath"] ?? "data", env.ContentRootPath);
        var connectionString = config.GetConnectionString("SelfTune");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            var dbPath = Path.GetFullPath(config["Database:Path"] ?? Path.Combine(dataDir, "selftune.db"), env.ContentRootPath);
            Directory.CreateDirectory(Path.GetDirectoryName(dbPath)!);
            connectionString = $"Data Source={dbPath};Default Timeout=30";
        }
        // The factory also registers AdminDbContext as scoped; Blazor components use the factory (a circuit outlives a request).
        services.AddDbContextFactory<AdminDbContext>(o => o.UseSqlite(connectionString).AddInterceptors(new SqlitePragmas()));
        services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDir, "keys")));

        services.Configure<StorageOptions>(o => o.ArchivePath = config["Storage:ArchivePath"] ?? Path.Combine(dataDir, "archives"));
        // Created as the host starts rather than on first use: creating it removes staging files a crashed run left behind.
        services.AddActivatedSingleton<ArchiveStore>();
        services.AddScoped<RegistryService>();
        services.AddSingleton<RegistryQueries>(); // a context per call, from the factory
        services.AddScoped<MemberDirectory>();
        services.AddScoped<ApiKeyService>();
        services.AddSingleton<IChangeFeed, InProcessChangeFeed>();
        services.AddSingleton<ApiKeyNotifier>();
        services.AddScoped<MemberService>();

        AddAuthentication(builder);
        services.AddGitHubClient(config);
        services.AddJobQueue(config);
        services.AddScoped<InstallationBinder>();
        services.AddSingleton<GitHubUserAuthorization>(); // binding's proof: GitHub's user authorization
        services.AddScoped<ConnectionService>();
        services.AddSingleton<AttemptQueries>(); // a context per call, from the factory
        services.AddSingleton<OverviewQueries>(); // a context per call, from the factory
        services.AddScoped<WriteBack>();
        services.AddScoped<SkillPackager>();
        services.AddScoped<AttemptBuilder>();
        services.AddScoped<PublishService>();
        services.AddScoped<SyncService>();
        services.AddScoped<DirectImport>();
        services.AddScoped<WebhookProcessor>();
        services.AddSingleton<AttemptNotifier>();
        services.AddSingleton<WebhookBodyGate>(); // bounds the large webhook bodies held at once
        // Pages: live delivery news, the deliveries view and replay, and "Sync now".
        services.AddSingleton<DeliveryNotifier>();
        services.AddSingleton<DeliveryIngest>(); // stores a delivery and its job, for the receiver and for replays
        services.AddScoped<DeliveryService>();
        services.AddScoped<ManualSync>();
        services.AddScoped<IJobHandler, PublishJobs.WebhookHandler>();
        services.AddScoped<IJobHandler, PublishJobs.PublishHandler>();
        services.AddScoped<IJobHandler, PublishJobs.SyncHandler>();
        services.AddHostedService<ReconciliationSweep>();

        // GitHub setup page: App credentials from configuration, else from the manifest flow (registered after
        // AddGitHubClient, so this credential source is the one resolved); repository browsing; setup helpers.
        services.AddSingleton<StoredAppCredentials>();
        services.AddSingleton<GitHubAppCredentialSource>();
        services.AddSingleton<IGitHubAppCredentialSource>(sp => sp.GetRequiredService<GitHubAppCredentialSource>());
        services.AddScoped<AppManifestService>();
        services.AddScoped<RepositoryBrowser>();
        services.AddScoped<GitHubSetupService>();

        services.AddProblemDetails(o => o.CustomizeProblemDetails = ApiProblem.AddCodeExtension);
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true); // so bad input reaches ApiExceptionHandler
        services.ConfigureHttpJsonOptions(o => ConfigureJson(o.SerializerOptions));
        services.AddOpenApi(o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "SelfTune Admin API";
            doc.Components ??= new();
            doc.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            doc.Components.SecuritySchemes["ApiKey"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer",
                Description = "An API key (st_live_...) created on the API keys page.",
            };
            doc.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("ApiKey", doc)] = [] }];
            return Task.CompletedTask;
        }));
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);

        services.AddAntiforgery(o => o.Cookie.SecurePolicy = CookieSecurity(env));
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddCascadingAuthenticationState();
        services.AddMudServices();
    }

    /// <summary>
    /// appsettings.Development.json lives at the top of the repository, beside SelfTune.Admin.sln (the design card), not in
    /// the project folder. <c>dotnet run --project SelfTune.Admin</c> and WebApplicationFactory make the project folder the
    /// content root, so in Development, when the folder above is the repository (it holds the .sln), its file is added
    /// right after the host's own appsettings.Development.json source: environment variables, the command line and test
    /// settings still come later and win. Run from bin or a publish folder, the copy the build puts there is the host's own.
    /// </summary>
    static void AddRepositoryDevelopmentSettings(WebApplicationBuilder builder)
    {
        var env = builder.Environment;
        if (!env.IsDevelopment()) return;
        var repository = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(env.ContentRootPath));
        if (repository is null || !File.Exists(Path.Combine(repository, "SelfTune.Admin.sln"))) return;

        var sources = builder.Configuration.Sources;
        var hostFile = $"appsettings.{env.EnvironmentName}.json";
        var hostSource = sources.OfType<JsonConfigurationSource>().LastOrDefault(s => s.Path == hostFile);
        // Read at start, like the settings that matter here; no file watcher per host (the tests start many hosts).
        var repositoryFile = new JsonConfigurationSource
        {
            Path = hostFile, Optional = true, ReloadOnChange = false, FileProvider = new PhysicalFileProvider(repository),
        };
        // Without the host's own source (someone cleared them), the lowest place: it must never override anything.
        sources.Insert(hostSource is null ? 0 : sources.IndexOf(hostSource) + 1, repositoryFile);
    }

    public static void ConfigureJson(JsonSerializerOptions json)
    {
        json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        json.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        json.Converters.Add(new UtcTimestampConverter());
    }

    const string BrowserOrApiKey = "BrowserOrApiKey";

    /// <summary>
    /// The sign-in and antiforgery cookies are Secure outside Development, where the app is reached over https (directly
    /// or through a proxy, see <see cref="ReverseProxy"/>); in Development, often plain http, they follow the request.
    /// </summary>
    static CookieSecurePolicy CookieSecurity(IHostEnvironment env) =>
        env.IsDevelopment() ? CookieSecurePolicy.SameAsRequest : CookieSecurePolicy.Always;

    static void AddAuthentication(WebApplicationBuilder builder)
    {
        var oidc = builder.Configuration.GetSection("Authentication:Oidc").Get<OidcSettings>() ?? new OidcSettings();
        if (!builder.Environment.IsDevelopment() && oidc.MissingSettings().ToList() is { Count: > 0 } missing)
            throw new InvalidOperationException(
                $"Browser sign-in needs an OpenID Connect provider outside Development. Missing settings: {string.Join(", ", missing)}.");
        builder.Services.AddSingleton(oidc);

        var auth = builder.Services.AddAuthentication(o =>
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
                    var p = context.Principal!;
                    var members = context.HttpContext.RequestServices.GetRequiredService<MemberDirectory>();
                    var identity = await members.SignInAsync(
                        p.FindFirstValue("iss") ?? oidc.Authority!, p.FindFirstValue("sub") ?? throw new InvalidOperationException("The provider sent no 'sub' claim."),
                        p.FindFirstValue("name") ?? p.FindFirstValue("preferred_username"), p.FindFirstValue("email"),
                        CookieAuthenticationDefaults.AuthenticationScheme, context.HttpContext.RequestAborted);
                    context.Principal = new ClaimsPrincipal(identity);
                };
            });
        }
        builder.Services.AddAuthorization();
    }

    /// <summary>How long a sign-in cookie's role and plan are trusted before they are read again.</summary>
    static readonly TimeSpan MemberRecheck = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Role and plan live in the cookie; every few minutes they are read again, so a demotion, a removal or an upgrade
    /// takes effect without signing out. A member who no longer exists is signed out.
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
        var identity = await members.RefreshAsync(memberId, CookieAuthenticationDefaults.AuthenticationScheme, context.HttpContext.RequestAborted);
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

    /// <summary>Applies checked-in migrations and, in Development, the development seed.</summary>
    public static async Task InitializeDatabaseAsync(this WebApplication app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        await db.Database.MigrateAsync();
        // WAL lets readers go on while a publish writes; it is a property of the file, set once.
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        if (app.Environment.IsDevelopment())
            await DevelopmentSeed.ApplyAsync(db, app.Configuration, scope.ServiceProvider.GetRequiredService<TimeProvider>());
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

        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();

        app.MapStaticAssets();
        app.MapOpenApi().AllowAnonymous();
        app.MapScalarApiReference("/api-reference", o => o.WithTitle("SelfTune Admin API").WithOpenApiRoutePattern("/openapi/{documentName}.json")
                .DisableDefaultFonts()) // its fonts come from Scalar's CDN, which the Content-Security-Policy does not allow
            .AllowAnonymous();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).AllowAnonymous();

        app.MapAccountApi();
        app.MapRegistryApi();
        app.MapGitHubApi();
        app.MapGitHubWebhookApi();
        app.MapGitHubCallbackApi();

        app.MapRazorComponents<App>().AddInteractiveServerRenderMode().RequireAuthorization();
    }
}
