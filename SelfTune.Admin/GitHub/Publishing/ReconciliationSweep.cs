namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// GitHub never redelivers on its own and sends no push event when more than three tags are pushed at once, so every
/// <c>GitHub:ReconcileInterval</c> (default 15 min) each active connection gets a reconcile job that publishes what the
/// webhooks missed. The jobs share the connection's concurrency key, so they never overlap a webhook publish.
/// </summary>
public sealed class ReconciliationSweep(IServiceScopeFactory scopes, IConfiguration config, TimeProvider clock, ILogger<ReconciliationSweep> log)
    : BackgroundService
{
    /// <summary>Queues a reconcile job for each active connection of every org (the sweep); returns how many.</summary>
    public static async Task<int> EnqueueAsync(AdminDbContext db, JobQueue queue, CancellationToken ct)
    {
        var queued = await QueueAsync(db, queue, null, ct);
        await db.SaveChangesAsync(ct); // wakes a slot per job queued (JobQueue.Enqueue)
        return queued;
    }

    /// <summary>"Reconcile now" for the actor's org: queues its active connections, recorded in its audit log in the same save.</summary>
    public static async Task<int> EnqueueAsync(AdminDbContext db, JobQueue queue, Actor actor, DateTimeOffset at, CancellationToken ct)
    {
        actor.Require(MemberRole.Admin, "reconcile connections");
        var queued = await QueueAsync(db, queue, actor.OrgId, ct);
        AuditLog.Record(db, actor, at, "connection.reconcile", "connection", null, "active connections", $"{queued} connection(s) queued");
        await db.SaveChangesAsync(ct); // wakes a slot per job queued (JobQueue.Enqueue)
        return queued;
    }

    static async Task<int> QueueAsync(AdminDbContext db, JobQueue queue, Guid? orgId, CancellationToken ct)
    {
        var busy = await db.Jobs.Where(j => j.Kind == PublishJobs.Sync && (j.State == JobState.Pending || j.State == JobState.Running))
            .Select(j => j.ConcurrencyKey).ToListAsync(ct);
        var connections = await db.Connections.AsNoTracking()
            .Where(c => c.PausedReason == null && c.AutoPublish && (orgId == null || c.OrgId == orgId))
            .Where(c => !db.Orgs.Any(o => o.Id == c.OrgId && o.SuspendedAt != null)) // a suspended org publishes nothing
            .Select(c => c.Id).ToListAsync(ct);
        var queued = 0;
        foreach (var id in connections.Where(id => !busy.Contains(PublishJobs.ConcurrencyKey(id))))
        {
            PublishJobs.EnqueueSync(queue, db, id, AttemptTrigger.Reconcile);
            queued++;
        }
        return queued;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = config.GetValue("GitHub:ReconcileInterval", TimeSpan.FromMinutes(15));
        if (interval <= TimeSpan.Zero) return; // 0 turns the sweep off (tests drive reconciliation on demand)
        using var timer = new PeriodicTimer(interval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var credentials = scope.ServiceProvider.GetRequiredService<IGitHubAppCredentialSource>();
                if (await credentials.GetAsync(stoppingToken) is null) continue;
                var queued = await EnqueueAsync(scope.ServiceProvider.GetRequiredService<AdminDbContext>(),
                    scope.ServiceProvider.GetRequiredService<JobQueue>(), stoppingToken);
                log.LogInformation("Reconciliation sweep queued {Count} connection(s)", queued);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "Reconciliation sweep failed; the next tick tries again");
            }
        }
    }
}
