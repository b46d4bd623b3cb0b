using Microsoft.Extensions.DependencyInjection.Extensions;

namespace SelfTune.Admin.Jobs;

public static class JobQueueServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="JobOptions"/> (from the "Jobs" section), the singleton <see cref="JobQueue"/> and the
    /// <see cref="JobWorker"/> hosted service (idle when Jobs:Enabled is false). Needs an
    /// <c>IDbContextFactory&lt;AdminDbContext&gt;</c>. Handlers are registered separately, keyed by their kind (see <see cref="IJobHandler"/>).
    /// </summary>
    public static IServiceCollection AddJobQueue(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<JobOptions>()
            .Bind(configuration.GetSection(JobOptions.SectionName))
            .Validate(o => o.Workers >= 1, "Jobs:Workers must be at least 1.")
            .Validate(o => o.PollInterval > TimeSpan.Zero, "Jobs:PollInterval must be positive.")
            .Validate(o => o.Lease >= TimeSpan.FromMilliseconds(30), "Jobs:Lease must be at least 30 ms.")
            .Validate(o => o.RetryBaseDelay >= TimeSpan.Zero && o.MaxRetryDelay >= TimeSpan.Zero, "Jobs retry delays must not be negative.")
            .ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<JobQueue>();
        services.TryAddScoped<JobRun>();
        services.AddHostedService<JobWorker>();
        return services;
    }
}
