using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// The real app on its own database (<see cref="TestDatabase"/>: SQLite or PostgreSQL) and archive folder: the one app fixture of
/// the tests. By default in Development with no OpenID Connect provider and a development API key for org acme;
/// <see cref="EnvironmentName"/> and <see cref="Settings"/> (e.g. the fake GitHub's URLs, a provider) are set before the first use.
/// <see cref="Auth.ProductionApp"/> is the deployed preset.
/// </summary>
public class AdminAppFactory : WebApplicationFactory<Program>
{
    // Only the parameterless constructor is public: xunit class fixtures need exactly one, with no arguments.
    public AdminAppFactory() : this(null) { }

    /// <param name="dataPath">
    /// An existing data folder to start on (e.g. a second "process" on the first one's database); the caller owns it and
    /// it is not deleted on dispose. Null: a new temporary folder, deleted on dispose.
    /// </param>
    protected internal AdminAppFactory(string? dataPath)
    {
        ownsDataPath = dataPath is null;
        DataPath = dataPath ?? Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));
    }

    readonly bool ownsDataPath;
    public string DataPath { get; }
    /// <summary>"Development" unless set; outside Development the app needs an OpenID Connect provider in <see cref="Settings"/>.</summary>
    public string EnvironmentName { get; init; } = Environments.Development;
    /// <summary>The API key seeded for org acme (Development only).</summary>
    public string DevelopmentKey { get; } = ApiKeyFormat.Generate();
    public Dictionary<string, string?> Settings { get; } = new();
    /// <summary>
    /// EF Core interceptors on the app's every context, set before the first use (a simulated crash, a write between two
    /// reads). Each provider's context type has its own options: on PostgreSQL the app's contexts are PostgresAdminDbContext.
    /// </summary>
    public List<Microsoft.EntityFrameworkCore.Diagnostics.IInterceptor> Interceptors { get; } = [];

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(EnvironmentName);
        builder.UseSetting("Storage:DataPath", DataPath);
        foreach (var (key, value) in TestDatabase.AppSettings(DataPath)) builder.UseSetting(key, value);
        if (EnvironmentName == Environments.Development) builder.UseSetting("Development:ApiKey", DevelopmentKey);
        builder.UseSetting("Authentication:Oidc:Authority", ""); // no provider unless Settings name one
        foreach (var (key, value) in Settings) builder.UseSetting(key, value);
        if (Interceptors.Count > 0)
            builder.ConfigureServices(services => services
                .ConfigureDbContext<AdminDbContext>(o => o.AddInterceptors(Interceptors))
                .ConfigureDbContext<PostgresAdminDbContext>(o => o.AddInterceptors(Interceptors)));
    }

    public HttpClient CreateClient(string? apiKey)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    public async Task<T> WithDbAsync<T>(Func<AdminDbContext, Task<T>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<AdminDbContext>());
    }

    /// <summary>Another tenant: a new org on <paramref name="plan"/> with one key holding <paramref name="permissions"/>.</summary>
    public Task<(Guid OrgId, string Key)> CreateOrgAsync(Plan plan, params string[] permissions) => WithDbAsync(async db =>
    {
        var org = new Org { Slug = "org-" + Guid.NewGuid().ToString("N")[..8], Name = "Other", Plan = plan, CreatedAt = DateTimeOffset.UtcNow };
        var key = await AddKeyAsync(db, org.Id, permissions.Length == 0 ? SelfTuneClaims.AllPermissions : permissions);
        db.Orgs.Add(org);
        await db.SaveChangesAsync();
        return (org.Id, key);
    });

    public Task<string> CreateKeyAsync(Guid orgId, string[] permissions, DateTimeOffset? expiresAt = null, bool revoked = false) => WithDbAsync(async db =>
    {
        var key = await AddKeyAsync(db, orgId, permissions, expiresAt, revoked);
        await db.SaveChangesAsync();
        return key;
    });

    public Task<Guid> AcmeOrgIdAsync() => WithDbAsync(db => Task.FromResult(db.Orgs.Single(o => o.Slug == "acme").Id));

    static Task<string> AddKeyAsync(AdminDbContext db, Guid orgId, string[] permissions, DateTimeOffset? expiresAt = null, bool revoked = false)
    {
        var secret = ApiKeyFormat.Generate();
        db.ApiKeys.Add(new ApiKey
        {
            OrgId = orgId, Name = "test", Prefix = ApiKeyFormat.VisiblePrefix(secret), Hash = ApiKeyFormat.Hash(secret),
            Permissions = string.Join(' ', permissions), CreatedAt = DateTimeOffset.UtcNow, ExpiresAt = expiresAt,
            RevokedAt = revoked ? DateTimeOffset.UtcNow : null,
        });
        return Task.FromResult(secret);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!ownsDataPath) return;
        TestDatabase.Drop(DataPath);
        try { Directory.Delete(DataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
