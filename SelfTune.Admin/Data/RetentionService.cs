namespace SelfTune.Admin.Data;

/// <summary>
/// <c>Retention</c> settings: how long what only explains the past is kept. Versions, registry entries and the audit log
/// are never pruned.
/// </summary>
public sealed class RetentionOptions
{
    /// <summary>Finished jobs (succeeded or failed) are deleted this long after they finished.</summary>
    public TimeSpan FinishedJobs { get; set; } = TimeSpan.FromDays(7);
    /// <summary>A delivery's body is emptied this long after it arrived; its row (event, outcome, time) stays.</summary>
    public TimeSpan DeliveryPayloads { get; set; } = TimeSpan.FromDays(30);
    /// <summary>Per connection, the newest this many finished attempts are kept; older finished ones are deleted.</summary>
    public int AttemptsPerConnection { get; set; } = 200;
    /// <summary>How often a prune runs (also once shortly after start).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
    public bool Enabled { get; set; } = true;
}

/// <summary>
/// Prunes on a schedule (<see cref="RetentionOptions"/>). Every statement is idempotent and set-based, so several
/// instances pruning at once only repeat each other's work. The figures are logged and counted
/// (<c>selftune.retention.pruned</c> by kind).
/// </summary>
public sealed class RetentionService(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock, IOptionsMonitor<RetentionOptions> options,
    ILogger<RetentionService> log) : BackgroundService
{
    public sealed record Pruned(int Jobs, int DeliveryPayloads, int Attempts);

    /// <summary>Recovery requests (<see cref="DeliveryRecovery"/>) are kept this long: the Deliveries page marks recovered ones meanwhile.</summary>
    public static readonly TimeSpan DeliveryRecoveries = TimeSpan.FromDays(30);

    public async Task<Pruned> PruneAsync(CancellationToken ct)
    {
        var o = options.CurrentValue;
        var now = clock.GetUtcNow();
        await using var db = await dbFactory.CreateDbContextAsync(ct);

        var jobsBefore = now - o.FinishedJobs;
        var jobs = await db.Jobs
            .Where(j => (j.State == JobState.Succeeded || j.State == JobState.Failed) && j.FinishedAt != null && j.FinishedAt < jobsBefore)
            .ExecuteDeleteAsync(ct);

        var payloadsBefore = now - o.DeliveryPayloads;
        var payloads = await db.Deliveries
            .Where(d => d.ReceivedAt < payloadsBefore && d.Payload != "")
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.Payload, ""), ct);
        // A rejected delivery (bad signature) is only a record of the refusal: it goes when bodies do.
        var rejected = await db.Deliveries
            .Where(d => d.Outcome == DeliveryOutcome.Rejected && d.ReceivedAt < payloadsBefore)
            .ExecuteDeleteAsync(ct);

        // A recovery request marks what it brought back as recovered; after 30 days it goes (GitHub forgot the delivery long before).
        var recoveriesBefore = now - DeliveryRecoveries;
        var recoveries = await db.DeliveryRecoveries.Where(r => r.RequestedAt < recoveriesBefore).ExecuteDeleteAsync(ct);

        // An attempt is deleted when it is finished and at least N newer attempts of its connection exist: the newest N
        // (and any still queued or running) always stay. Correlated on the (ConnectionId, CreatedAt) index.
        var keep = Math.Max(1, o.AttemptsPerConnection);
        var attempts = await db.Attempts
            .Where(a => a.FinishedAt != null
                        && db.Attempts.Count(n => n.ConnectionId == a.ConnectionId && n.CreatedAt > a.CreatedAt) >= keep)
            .ExecuteDeleteAsync(ct);

        Count("job", jobs);
        Count("delivery_payload", payloads);
        Count("attempt", attempts);
        Count("rejected_delivery", rejected);
        Count("delivery_recovery", recoveries);
        if (jobs + payloads + attempts + rejected > 0)
            log.LogInformation("Retention pruned {Jobs} finished job(s), {Payloads} delivery payload(s), {Attempts} old attempt(s) and {Rejected} rejected deliveries",
                jobs, payloads, attempts, rejected);
        return new Pruned(jobs, payloads, attempts);
    }

    static void Count(string kind, int rows)
    {
        if (rows > 0) SelfTuneTelemetry.Pruned.Add(rows, new KeyValuePair<string, object?>("kind", kind));
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!options.CurrentValue.Enabled) return;
        try
        {
            await Task.Delay(TimeSpan.FromMinutes(1), clock, stopping); // not in the way of start-up
            using var timer = new PeriodicTimer(options.CurrentValue.Interval, clock);
            do
            {
                try { await PruneAsync(stopping); }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    log.LogWarning(e, "Retention could not prune this time; it tries again in {Interval}", options.CurrentValue.Interval);
                }
            } while (await timer.WaitForNextTickAsync(stopping));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }
}
