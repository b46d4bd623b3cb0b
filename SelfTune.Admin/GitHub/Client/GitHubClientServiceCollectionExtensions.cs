using System.Net;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.Retry;

namespace SelfTune.Admin.GitHub.Client;

public static class GitHubClientServiceCollectionExtensions
{
    static readonly ResiliencePropertyKey<TimeSpan> RetryDelayKey = new("github.retry-delay");

    /// <summary>
    /// Registers <see cref="GitHubOptions"/> (from the "GitHub" section of <paramref name="configuration"/>),
    /// the configured credential source, <see cref="GitHubClientFactory"/> and the resilient "github" HttpClient.
    /// </summary>
    public static IServiceCollection AddGitHubClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<GitHubOptions>()
            .Bind(configuration.GetSection(GitHubOptions.SectionName))
            .Validate(o => o.ApiBaseUrl.IsAbsoluteUri && o.WebBaseUrl.IsAbsoluteUri, "GitHub:ApiBaseUrl and GitHub:WebBaseUrl must be absolute URLs.")
            .Validate(o => o.AttemptTimeout > TimeSpan.Zero, "GitHub:AttemptTimeout must be positive.");

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ConfiguredGitHubAppCredentials>();
        services.TryAddSingleton<IGitHubAppCredentialSource>(sp => sp.GetRequiredService<ConfiguredGitHubAppCredentials>());
        services.TryAddSingleton<GitHubClientFactory>();
        services.TryAddSingleton<IGitHubClientFactory>(sp => sp.GetRequiredService<GitHubClientFactory>());
        services.TryAddSingleton<InstallationWriteLimiter>();

        services.AddHttpClient(GitHubClientFactory.HttpClientName)
            // Redirects (tarball → codeload) are followed here, below the retry pipeline; the handler
            // strips Authorization on redirect. Octokit's own redirect handling then never sees a 3xx.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                AllowAutoRedirect = true,
                AutomaticDecompression = DecompressionMethods.All,
            })
            .AddResilienceHandler("github", (builder, context) =>
            {
                context.EnableReloads<GitHubOptions>();
                ConfigurePipeline(builder, context.GetOptions<GitHubOptions>(), context.ServiceProvider.GetRequiredService<TimeProvider>());
            });

        return services;
    }

    /// <remarks>
    /// A POST (a check run, a commit status) is sent again only when GitHub refused it (429, rate limit) or it never left:
    /// after a 5xx, a timeout or a dropped connection GitHub may have created the thing already (see
    /// <see cref="GitHubRetryDelay.IsSafeToRepeat"/>), so the caller looks it up before creating it again.
    /// </remarks>
    static void ConfigurePipeline(ResiliencePipelineBuilder<HttpResponseMessage> builder, GitHubOptions o, TimeProvider time)
    {
        if (o.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = o.MaxRetries,
                // The delay is decided together with "should we retry at all" (a too-long Retry-After means no),
                // so compute it once in ShouldHandle and hand it to DelayGenerator via the context.
                ShouldHandle = args =>
                {
                    var jitter = Random.Shared.NextDouble();
                    TimeSpan? delay = args.Outcome switch
                    {
                        { Exception: { } e } => GitHubRetryDelay.ForException(e, args.AttemptNumber, o.RetryBaseDelay, o.MaxRetryDelay, jitter,
                            args.Context.GetRequestMessage()),
                        { Result: { } r } => GitHubRetryDelay.ForResponse(r, args.AttemptNumber, time.GetUtcNow(), o.RetryBaseDelay, o.MaxRetryDelay, jitter),
                        _ => null,
                    };
                    if (delay is { } d) args.Context.Properties.Set(RetryDelayKey, d);
                    return ValueTask.FromResult(delay is not null);
                },
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(
                    args.Context.Properties.TryGetValue(RetryDelayKey, out var d) ? d : null),
            });
        }

        // Inside the retry so each attempt gets its own timeout (TimeoutRejectedException is retried).
        builder.AddTimeout(o.AttemptTimeout);
    }
}
