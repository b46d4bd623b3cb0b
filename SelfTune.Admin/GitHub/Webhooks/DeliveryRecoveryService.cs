using Octokit;

namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary><c>GitHub:DeliveryRecovery</c> settings: how the app asks GitHub again for deliveries that never reached it.</summary>
public sealed class DeliveryRecoveryOptions
{
    public const string SectionName = "GitHub:DeliveryRecovery";

    /// <summary>Scans at start-up and every <see cref="Interval"/> while the GitHub App is configured.</summary>
    public bool Enabled { get; set; } = true;
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>GitHub keeps deliveries this long: the start-up scan (after downtime) looks back this far.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromDays(3);
    /// <summary>A later scan goes back to the previous scan's start less this (GitHub lists an attempt once it has ended).</summary>
    public TimeSpan Margin { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Redeliveries asked for in one scan at most; the rest wait for the next one.</summary>
    public int MaxPerRun { get; set; } = 100;
}

/// <summary>
/// GitHub never redelivers on its own and keeps deliveries for 3 days, so at start-up (after downtime) and every
/// <see cref="DeliveryRecoveryOptions.Interval"/> this lists the App's deliveries (<c>GET /app/hook/deliveries</c>, App JWT,
/// newest first, paged by GitHub's cursor), takes the GUIDs whose latest attempt failed and that were never stored, and asks
/// GitHub to redeliver each (<c>POST /app/hook/deliveries/{id}/attempts</c>). The redelivery comes back through the
/// receiver with the same GUID, deduplicated as any delivery. Each request is recorded first as a
/// <see cref="DeliveryRecovery"/> row keyed by the GUID: only the instance whose insert wins asks GitHub, and a GUID is
/// asked for once (a refusal is kept with its reason, not retried). A rate limit or a GitHub failure ends the scan and
/// gives the claim back, so the next scan asks again; the client's resilience pipeline waits out short rate limits first.
/// </summary>
public sealed class DeliveryRecoveryService(
    IGitHubClientFactory github, IGitHubAppCredentialSource credentials, IDbContextFactory<AdminDbContext> dbFactory,
    IHostApplicationLifetime lifetime, TimeProvider clock, IOptionsMonitor<DeliveryRecoveryOptions> options,
    ILogger<DeliveryRecoveryService> log) : BackgroundService
{
    /// <summary>What one scan did. <paramref name="Complete"/>: it saw the whole window and asked for every delivery it found.</summary>
    public sealed record Scan(int Listed, int Missing, int Requested, int Refused, bool Complete);

    /// <summary>One attempt GitHub made to deliver, as <c>GET /app/hook/deliveries</c> lists it (Octokit has no type for it).</summary>
    public sealed class HookDelivery
    {
        public long Id { get; set; }
        public string Guid { get; set; } = "";
        public DateTimeOffset DeliveredAt { get; set; }
        public bool Redelivery { get; set; }
        public int StatusCode { get; set; }
        public string Event { get; set; } = "";
        public string? Action { get; set; }
    }

    static readonly Uri DeliveriesPath = new("app/hook/deliveries", UriKind.Relative);
    const string Accepts = "application/vnd.github+json";

    readonly SemaphoreSlim running = new(1, 1);
    DateTimeOffset? lastCompleteScanStartedAt;

    /// <summary>Scans once (start-up's window when no scan of this instance has completed yet).</summary>
    public async Task<Scan> RunAsync(CancellationToken ct)
    {
        await running.WaitAsync(ct);
        try
        {
            var o = options.CurrentValue;
            var startedAt = clock.GetUtcNow();
            var since = lastCompleteScanStartedAt is { } last ? last - o.Margin : startedAt - o.Window;
            var scan = await ScanAsync(since, Math.Max(1, o.MaxPerRun), ct);
            if (scan.Complete) lastCompleteScanStartedAt = startedAt;
            if (scan.Requested + scan.Refused > 0 || !scan.Complete)
                log.LogInformation("Delivery recovery: {Missing} delivery(ies) GitHub failed to hand over since {Since:O}; asked GitHub to redeliver {Requested}, refused {Refused}{More}",
                    scan.Missing, since, scan.Requested, scan.Refused, scan.Complete ? "" : "; the rest wait for the next scan");
            return scan;
        }
        finally
        {
            running.Release();
        }
    }

    async Task<Scan> ScanAsync(DateTimeOffset since, int max, CancellationToken ct)
    {
        var client = await github.CreateAppClientAsync(ct);
        var (attempts, listedAll) = await ListSinceAsync(client.Connection, since, ct);

        // GitHub lists each attempt; a delivery (GUID) needs recovering when its latest attempt got no 2xx.
        var failed = attempts.GroupBy(a => a.Guid)
            .Select(g => (Latest: g.MaxBy(a => (a.DeliveredAt, a.Id))!, FirstAt: g.Min(a => a.DeliveredAt)))
            .Where(g => g.Latest.StatusCode is < 200 or > 299)
            .ToList();
        var missing = await NeverStoredNorAskedAsync(failed.Select(f => f.Latest.Guid).ToList(), ct);
        var todo = failed.Where(f => missing.Contains(f.Latest.Guid)).OrderBy(f => f.FirstAt).ToList();

        int requested = 0, refused = 0;
        var complete = listedAll;
        foreach (var (latest, firstAt) in todo)
        {
            if (requested + refused >= max) { complete = false; break; }
            var claim = new DeliveryRecovery
            {
                DeliveryId = latest.Guid, HookDeliveryId = latest.Id, Event = latest.Event, Action = latest.Action,
                DeliveredAt = firstAt, RequestedAt = clock.GetUtcNow(),
            };
            if (!await ClaimAsync(claim, ct)) continue; // another instance asks for this one

            (string Reason, bool Retry)? refusal;
            try
            {
                refusal = await RedeliverAsync(client.Connection, latest.Id, ct);
            }
            catch (OperationCanceledException)
            {
                await ReleaseAsync(claim.DeliveryId); // shutting down: the next start asks for it
                throw;
            }
            if (refusal is null) { requested++; continue; }
            if (refusal.Value.Retry)
            {
                // Rate-limited, or GitHub failed: give the claim back and stop; the next scan asks again.
                await ReleaseAsync(claim.DeliveryId);
                log.LogWarning("Delivery recovery stopped: {Reason}; it tries again at the next scan", refusal.Value.Reason);
                complete = false;
                break;
            }
            await RecordRefusalAsync(claim.DeliveryId, refusal.Value.Reason, ct);
            refused++;
        }
        return new Scan(attempts.Count, todo.Count, requested, refused, complete);
    }

    /// <summary>The attempts delivered since <paramref name="since"/>, newest first; false when a page could not be read.</summary>
    async Task<(List<HookDelivery> Attempts, bool Complete)> ListSinceAsync(IConnection connection, DateTimeOffset since, CancellationToken ct)
    {
        var all = new List<HookDelivery>();
        Uri? next = DeliveriesPath;
        Dictionary<string, string>? parameters = new() { ["per_page"] = "100" };
        while (next is not null)
        {
            IApiResponse<List<HookDelivery>> page;
            try
            {
                page = await connection.Get<List<HookDelivery>>(next, parameters, Accepts, ct);
            }
            catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) && !ct.IsCancellationRequested)
            {
                log.LogWarning(e, "Delivery recovery could not list the App's deliveries: {Reason}", GitHubFailures.Describe(e));
                return (all, false);
            }
            var body = page.Body ?? [];
            all.AddRange(body.Where(a => a.DeliveredAt >= since));
            if (body.Count == 0 || body.Any(a => a.DeliveredAt < since)) break; // newest first: the rest are older
            next = page.HttpResponse.ApiInfo?.Links is { } links && links.TryGetValue("next", out var link) ? link : null;
            parameters = null; // the next link carries them, with GitHub's cursor
        }
        return (all, true);
    }

    /// <summary>The GUIDs among <paramref name="guids"/> with no stored delivery and no recovery asked for yet.</summary>
    async Task<HashSet<string>> NeverStoredNorAskedAsync(List<string> guids, CancellationToken ct)
    {
        var missing = new HashSet<string>(guids, StringComparer.Ordinal);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        foreach (var chunk in guids.Chunk(500))
        {
            missing.ExceptWith(await db.Deliveries.Where(d => chunk.Contains(d.DeliveryId)).Select(d => d.DeliveryId).ToListAsync(ct));
            missing.ExceptWith(await db.DeliveryRecoveries.Where(r => chunk.Contains(r.DeliveryId)).Select(r => r.DeliveryId).ToListAsync(ct));
        }
        return missing;
    }

    /// <summary>Stores the recovery row; false when another instance stored it first (the GUID is the key).</summary>
    async Task<bool> ClaimAsync(DeliveryRecovery claim, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        db.DeliveryRecoveries.Add(claim);
        try
        {
            await db.SaveChangesAsync(ct);
            return true;
        }
        catch (DbUpdateException e) when (e.IsUniqueViolation())
        {
            return false;
        }
    }

    async Task ReleaseAsync(string deliveryId)
    {
        await using var db = await dbFactory.CreateDbContextAsync(CancellationToken.None);
        await db.DeliveryRecoveries.Where(r => r.DeliveryId == deliveryId).ExecuteDeleteAsync(CancellationToken.None);
    }

    async Task RecordRefusalAsync(string deliveryId, string reason, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        await db.DeliveryRecoveries.Where(r => r.DeliveryId == deliveryId)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Error, reason), ct);
    }

    /// <summary>Null when GitHub accepted; otherwise why not, and whether a later scan should ask again.</summary>
    async Task<(string Reason, bool Retry)?> RedeliverAsync(IConnection connection, long hookDeliveryId, CancellationToken ct)
    {
        try
        {
            await connection.Post(new Uri($"app/hook/deliveries/{hookDeliveryId}/attempts", UriKind.Relative), ct);
            return null;
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) && !ct.IsCancellationRequested)
        {
            var retry = e switch
            {
                RateLimitExceededException or SecondaryRateLimitExceededException => true,
                ApiException api => api.StatusCode == System.Net.HttpStatusCode.TooManyRequests || (int)api.StatusCode >= 500,
                _ => true, // no answer, or the App's settings are gone: GitHub did not refuse this one
            };
            return (retry ? GitHubFailures.Describe(e) : $"GitHub refused to redeliver it: {GitHubFailures.Describe(e)}", retry);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!options.CurrentValue.Enabled) return;
        try
        {
            // Not before the app listens: GitHub sends the redeliveries straight back.
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
                await started.Task.WaitAsync(stopping);
            await RunScheduledAsync(stopping);
            var interval = options.CurrentValue.Interval;
            if (interval <= TimeSpan.Zero) return; // 0: only the start-up scan
            using var timer = new PeriodicTimer(interval, clock);
            while (await timer.WaitForNextTickAsync(stopping)) await RunScheduledAsync(stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }

    async Task RunScheduledAsync(CancellationToken stopping)
    {
        try
        {
            if (await credentials.GetAsync(stopping) is not null) await RunAsync(stopping);
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            log.LogWarning(e, "Delivery recovery failed this time; it tries again in {Interval}", options.CurrentValue.Interval);
        }
    }
}

public static class DeliveryRecoverySetup
{
    /// <summary>The scheduled recovery of deliveries GitHub failed to hand over (<see cref="DeliveryRecoveryService"/>).</summary>
    public static IServiceCollection AddDeliveryRecovery(this IServiceCollection services, IConfiguration config)
    {
        services.Configure<DeliveryRecoveryOptions>(config.GetSection(DeliveryRecoveryOptions.SectionName));
        services.AddSingleton<DeliveryRecoveryService>();
        services.AddHostedService(sp => sp.GetRequiredService<DeliveryRecoveryService>());
        return services;
    }
}
