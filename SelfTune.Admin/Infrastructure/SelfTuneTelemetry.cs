using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Components.Server.Circuits;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// The app's own traces and metrics (OpenTelemetry), beside the framework's (ASP.NET Core, HttpClient, EF Core,
/// runtime). A webhook's request, the job it queued (which continues the request's trace through
/// <see cref="Job.TraceParent"/>), the GitHub calls, the publish and the write-back are one trace, tagged with the
/// delivery GUID and the connection id. Exporters: OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; a Prometheus
/// scrape endpoint at <c>/metrics</c> when <c>Telemetry:Prometheus=true</c> (operators only: it is on the app's own port,
/// and a scraper signs in as… nobody, so put it behind your network or scrape it with an operator's cookie).
/// </summary>
public static class SelfTuneTelemetry
{
    public const string Name = "SelfTune.Admin";
    public static readonly ActivitySource Source = new(Name);
    static readonly Meter Meter = new(Name);

    /// <summary>Webhook deliveries by <c>outcome</c>: queued, ignored, duplicate, rejected (bad signature), refused (bad input), busy.</summary>
    public static readonly Counter<long> WebhookDeliveries =
        Meter.CreateCounter<long>("selftune.webhook.deliveries", "{delivery}", "Webhook deliveries received, by outcome.");
    /// <summary>Publish attempts by <c>outcome</c> (published, unchanged, failed…), with their duration.</summary>
    public static readonly Histogram<double> PublishDuration =
        Meter.CreateHistogram<double>("selftune.publish.duration", "s", "Time from an attempt's start to its outcome, by outcome.");
    /// <summary>Write-backs (check runs, commit statuses) by <c>outcome</c>: written, failed.</summary>
    public static readonly Counter<long> WriteBacks =
        Meter.CreateCounter<long>("selftune.writeback", "{write}", "Check run / commit status write-backs, by outcome.");
    /// <summary>
    /// Looks for work by idle job slots, by <c>found</c> (true, false) and <c>worker</c> (the queue's WorkerId): a look
    /// that finds nothing is a wasted read, or on PostgreSQL a wasted claim.
    /// </summary>
    public static readonly Counter<long> JobLooks =
        Meter.CreateCounter<long>("selftune.jobs.looks", "{look}", "Looks for work by idle job slots, by whether they found a job.");
    /// <summary>
    /// SQLite checkpoints by <c>kind</c>: <c>passive</c> (writers go on meanwhile) and <c>restart</c> (every writer of the
    /// process waits for it: its duration is a pause of the webhook ingest, see SqliteCheckpointer).
    /// </summary>
    public static readonly Histogram<double> SqliteCheckpointDuration =
        Meter.CreateHistogram<double>("selftune.sqlite.checkpoint.duration", "s", "SQLite checkpoints of the write-ahead log, by kind; a restart holds the writers.");
    /// <summary>Rows removed or emptied by retention, by <c>kind</c>.</summary>
    public static readonly Counter<long> Pruned =
        Meter.CreateCounter<long>("selftune.retention.pruned", "{row}", "Rows pruned by retention, by kind.");

    static long liveCircuits;
    static readonly ConcurrentDictionary<string, long> RateLimitRemaining = new();
    static QueueSample queue = new(0, 0);

    static SelfTuneTelemetry()
    {
        Meter.CreateObservableGauge("selftune.circuits.live", () => Interlocked.Read(ref liveCircuits), "{circuit}", "Open Blazor circuits (live pages).");
        Meter.CreateObservableGauge("selftune.jobs.pending", () => queue.Pending, "{job}", "Jobs waiting in the queue.");
        Meter.CreateObservableGauge("selftune.jobs.oldest_pending_age", () => queue.OldestPendingAgeSeconds, "s", "Age of the oldest job waiting.");
        Meter.CreateObservableGauge("selftune.github.rate_limit.remaining",
            () => RateLimitRemaining.Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>("installation", p.Key))),
            "{request}", "GitHub's X-RateLimit-Remaining, by installation ('app' for App-JWT calls).");
    }

    sealed record QueueSample(long Pending, double OldestPendingAgeSeconds);

    public static void AddSelfTuneTelemetry(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var otlp = !string.IsNullOrWhiteSpace(config["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var prometheus = config.GetValue<bool>("Telemetry:Prometheus");
        // Every log line written inside a span carries its trace and span ids (the console and OTLP logs show them).
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        // Without an exporter nothing is collected: the SDK would otherwise create a span for every request and query.
        if (!otlp && !prometheus) return;
        // What feeds the gauges sits on hot paths (every GitHub answer, every circuit): only when someone reads them.
        builder.Services.AddSingleton<CircuitHandler, LiveCircuitCounter>();
        builder.Services.AddTransient<GitHubRateLimitRecorder>();
        builder.Services.AddHttpClient(GitHubClientFactory.HttpClientName).AddHttpMessageHandler<GitHubRateLimitRecorder>();
        builder.Services.AddHostedService<QueueSampler>(); // a query every 15 s only when someone reads the figures

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(Name))
            .WithTracing(t => t
                .AddSource(Name)
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/_blazor")
                                                                      && !http.Request.Path.StartsWithSegments("/healthz"))
                .AddHttpClientInstrumentation()
                .AddEntityFrameworkCoreInstrumentation()
                .AddNpgsql())
            .WithMetrics(m =>
            {
                m.AddMeter(Name).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddRuntimeInstrumentation();
                if (prometheus) m.AddPrometheusExporter();
            });
        if (otlp) telemetry.UseOtlpExporter();
    }

    /// <summary>Maps <c>/metrics</c> (Prometheus text) for operators, when <c>Telemetry:Prometheus=true</c>.</summary>
    public static void MapSelfTuneMetrics(this WebApplication app)
    {
        if (!app.Configuration.GetValue<bool>("Telemetry:Prometheus")) return;
        app.MapPrometheusScrapingEndpoint("/metrics").RequireAuthorization(p => p.RequireClaim(SelfTuneClaims.Operator, "true"));
    }

    /// <summary>Counts open circuits: each is a live page holding a change-feed subscription.</summary>
    sealed class LiveCircuitCounter : CircuitHandler
    {
        public override Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken ct) { Interlocked.Increment(ref liveCircuits); return Task.CompletedTask; }
        public override Task OnCircuitClosedAsync(Circuit circuit, CancellationToken ct) { Interlocked.Decrement(ref liveCircuits); return Task.CompletedTask; }
    }

    /// <summary>Reads GitHub's rate-limit header on every answer; the installation is found from the token that was sent.</summary>
    sealed class GitHubRateLimitRecorder(GitHubClientFactory clients) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            if (response.Headers.TryGetValues("X-RateLimit-Remaining", out var values) && long.TryParse(values.FirstOrDefault(), out var remaining))
            {
                var auth = request.Headers.Authorization;
                var installation = auth?.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase) == true && auth.Parameter?.Count(c => c == '.') == 2
                    ? "app" // the App's JWT
                    : clients.InstallationOf(auth?.Parameter)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown";
                RateLimitRemaining[installation] = remaining;
            }
            return response;
        }
    }

    /// <summary>Samples the queue's depth and oldest pending age for the gauges (observable gauges cannot query the database).</summary>
    sealed class QueueSampler(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock, ILogger<QueueSampler> log) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stopping)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(15), clock);
            do
            {
                try
                {
                    await using var db = await dbFactory.CreateDbContextAsync(stopping);
                    var pending = db.Jobs.AsNoTracking().Where(j => j.State == JobState.Pending);
                    var count = await pending.LongCountAsync(stopping);
                    var oldest = count == 0 ? (DateTimeOffset?)null
                        : (await pending.OrderBy(j => j.Id).Select(j => new { j.CreatedAt }).FirstOrDefaultAsync(stopping))?.CreatedAt;
                    queue = new QueueSample(count, oldest is { } at ? Math.Max(0, (clock.GetUtcNow() - at).TotalSeconds) : 0);
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    log.LogDebug(e, "Sampling the job queue for metrics failed");
                }
            } while (await timer.WaitForNextTickAsync(stopping));
        }
    }
}
