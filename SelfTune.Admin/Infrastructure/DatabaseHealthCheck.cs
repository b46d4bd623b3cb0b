using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SelfTune.Admin.Infrastructure;

/// <summary>Readiness: the database answers a query.</summary>
public sealed class DatabaseHealthCheck(AdminDbContext db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        await db.Database.CanConnectAsync(ct)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("The database cannot be reached.");
}
