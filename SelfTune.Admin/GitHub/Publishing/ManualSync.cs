namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// "Sync now" and "Reconcile" of one connection, for the UI and the API (<c>POST .../sync</c>, <c>POST .../reconcile</c>):
/// the connection's sync job (queued per connection, so it never overlaps a webhook publish), waited for, answering what
/// it did. Members, admins and owners may run them (SPEC section 2); viewers only read. Each call uses its own DbContext.
/// </summary>
public sealed class ManualSync(
    IDbContextFactory<AdminDbContext> dbFactory, JobQueue queue, IGitHubAppCredentialSource credentials, IOptions<GitHubOptions> options,
    TimeProvider clock)
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(90);

    /// <exception cref="ProblemException">Not allowed, not found, the App not configured, or the sync could not run (the reason).</exception>
    public async Task<PublishAttempt> RunAsync(Actor actor, Guid connectionId, TimeSpan? wait = null, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Member, "sync connections");
        var done = await RunJobAsync(actor, connectionId, AttemptTrigger.Manual, "connection.sync", "sync", wait, ct);
        if (done.State != JobState.Succeeded || !Guid.TryParse(done.Result, out var attemptId))
            throw new ProblemException(502, "upstream_failure", $"The sync could not run: {done.LastError ?? "no attempt was recorded"}.");
        await using var read = await dbFactory.CreateDbContextAsync(ct);
        return await read.Attempts.AsNoTracking().SingleAsync(a => a.Id == attemptId, ct);
    }

    /// <summary>
    /// "Reconcile" of one connection: what the sweep does for it (every missed head and tag published, moved tags and an
    /// unreachable repository recorded as drift), asked for by a person, so it also runs a paused or auto-publish-off
    /// connection and retries what failed before, as Sync does. Same roles as Sync; audited as the org-wide reconcile is.
    /// </summary>
    /// <exception cref="ProblemException">Not allowed, not found, the App not configured, or the reconcile could not run (the reason).</exception>
    public async Task<ReconcileResult> ReconcileAsync(Actor actor, Guid connectionId, TimeSpan? wait = null, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Member, "reconcile connections");
        var since = clock.GetUtcNow();
        var done = await RunJobAsync(actor, connectionId, AttemptTrigger.Reconcile, "connection.reconcile", "reconcile", wait, ct);
        if (done.State != JobState.Succeeded)
            throw new ProblemException(502, "upstream_failure", $"The reconcile could not run: {done.LastError ?? "the job failed"}.");
        await using var read = await dbFactory.CreateDbContextAsync(ct);
        var attempts = await read.Attempts.AsNoTracking()
            .Where(a => a.ConnectionId == connectionId && a.Trigger == AttemptTrigger.Reconcile && a.CreatedAt >= since)
            .ToListAsync(ct);
        var connection = await read.Connections.AsNoTracking().SingleAsync(c => c.Id == connectionId, ct);
        return ReconcileResult.From(connection, attempts.OrderBy(a => a.CreatedAt).ToList());
    }

    /// <summary>Queues the connection's sync job (audited in the same save) and waits for it; a timeout is a 504 in words.</summary>
    async Task<Job> RunJobAsync(Actor actor, Guid connectionId, AttemptTrigger trigger, string auditAction, string what, TimeSpan? wait, CancellationToken ct)
    {
        var orgId = actor.OrgId;
        if (await credentials.GetAsync(ct) is null) throw GitHubFailures.NotConfigured(options.Value.MissingSettings());
        long jobId;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
        {
            var repo = await db.Connections.Where(c => c.Id == connectionId && c.OrgId == orgId)
                           .Select(c => c.RepoOwner + "/" + c.RepoName).SingleOrDefaultAsync(ct)
                       ?? throw ProblemException.NotFound("There is no such connection in your org.");
            var job = PublishJobs.EnqueueSync(queue, db, connectionId, trigger, requested: true);
            AuditLog.Record(db, actor, clock.GetUtcNow(), auditAction, "connection", connectionId.ToString(), repo, $"{what} requested");
            await db.SaveChangesAsync(ct); // wakes the workers (JobQueue.Enqueue)
            jobId = job.Id;
        }
        try
        {
            return await queue.WaitForCompletionAsync(jobId, wait ?? DefaultWait, ct);
        }
        catch (TimeoutException)
        {
            throw new ProblemException(504, "timeout",
                $"The {what} is still running; its result will appear in the attempts when it finishes.");
        }
    }

    /// <summary>
    /// Whether a sync of the connection waits in the queue or runs (the first sync queued at creation, or a Sync now): the
    /// connection page says so while the connection has no attempt yet. Its attempts then arrive through the change feed.
    /// </summary>
    public async Task<bool> IsQueuedAsync(Guid connectionId, CancellationToken ct = default)
    {
        var key = PublishJobs.ConcurrencyKey(connectionId);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Jobs.AsNoTracking().AnyAsync(j => j.ConcurrencyKey == key && j.Kind == PublishJobs.Sync
            && (j.State == JobState.Pending || j.State == JobState.Running), ct);
    }
}
