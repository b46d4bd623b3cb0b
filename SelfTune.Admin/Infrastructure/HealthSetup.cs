using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// Health endpoints for a load balancer or an orchestrator, on the framework's health checks:
/// <c>/healthz</c> answers while the process lives (no check runs); <c>/readyz</c> answers 200 only when the database
/// answers with every migration applied and the archive store is reachable, 503 otherwise. The GitHub App's
/// configuration is reported in <c>/readyz</c>'s body but never fails it: an instance without GitHub still serves the
/// registry. The body is JSON: <c>{"status": "...", "checks": {"database": {"status", "description"}, ...}}</c>.
/// </summary>
public static class HealthSetup
{
    public static void AddSelfTuneHealthChecks(this IServiceCollection services) =>
        services.AddHealthChecks()
            // The EF Core check with our query: pending migrations reads __EFMigrationsHistory, so it fails when the
            // database is unreachable and when it is reachable but not (or not yet) migrated.
            .AddDbContextCheck<AdminDbContext>("database", tags: ["ready"],
                customTestQuery: async (db, ct) => !(await db.Database.GetPendingMigrationsAsync(ct)).Any())
            .AddCheck<ArchiveStoreHealthCheck>("archive_store", tags: ["ready"])
            .AddCheck<GitHubConfigurationHealthCheck>("github", tags: ["ready"]);

    public static void MapSelfTuneHealthChecks(this WebApplication app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = WriteReportAsync })
            .AllowAnonymous();
    }

    static Task WriteReportAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
    }

    sealed class ArchiveStoreHealthCheck(ArchiveStore store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            try
            {
                return await store.IsReachableAsync(ct)
                    ? HealthCheckResult.Healthy(store.Describe())
                    : HealthCheckResult.Unhealthy($"The archive store cannot be reached: {store.Describe()}.");
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                return HealthCheckResult.Unhealthy($"The archive store cannot be reached: {store.Describe()}.", e);
            }
        }
    }

    /// <summary>Reports the App's configuration; healthy either way (see the class summary).</summary>
    sealed class GitHubConfigurationHealthCheck(IOptionsMonitor<GitHubOptions> options, IGitHubAppCredentialSource credentials) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
            await credentials.GetAsync(ct) is not null
                ? HealthCheckResult.Healthy("The GitHub App is configured.")
                : HealthCheckResult.Healthy("The GitHub App is not configured (missing " + string.Join(", ", options.CurrentValue.MissingSettings()) + "); GitHub features answer 503.");
    }
}
