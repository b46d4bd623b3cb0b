namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// "Sync now" for the UI: the same job as <c>POST .../sync</c> (queued per connection, so it never overlaps a webhook
/// publish), waited for, answering the attempt it reported. Members, admins and owners may sync (SPEC section 2); viewers
/// only read. Each call uses its own DbContext.
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
        var orgId = actor.OrgId;
        if (await credentials.GetAsync(ct) is null) throw GitHubFailures.NotConfigured(options.Value.MissingSettings());
        long jobId;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
        {
            var repo = await db.Connections.Where(c => c.Id == connectionId && c.OrgId == orgId)
                           .Select(c => c.RepoOwner + "/" + c.RepoName).SingleOrDefaultAsync(ct)
                       ?? throw ProblemException.NotFound("There is no such connection in your org.");
            var job = PublishJobs.EnqueueSync(queue, db, connectionId, AttemptTrigger.Manual);
            AuditLog.Record(db, actor, clock.GetUtcNow(), "connection.sync", "connection", connectionId.ToString(), repo, "sync requested");
            await db.SaveChangesAsync(ct);
            jobId = job.Id;
        }
        queue.Notify();
        Job done;
        try
        {
            done = await queue.WaitForCompletionAsync(jobId, wait ?? DefaultWait, ct);
        }
        catch (TimeoutException)
        {
            throw new ProblemException(504, "timeout",
                "The sync is still running; its result will appear in the attempts when it finishes.");
        }
        if (done.State != JobState.Succeeded || !Guid.TryParse(done.Result, out var attemptId))
            throw new ProblemException(502, "upstream_failure", $"The sync could not run: {done.LastError ?? "no attempt was recorded"}.");
        await using var read = await dbFactory.CreateDbContextAsync(ct);
        return await read.Attempts.AsNoTracking().SingleAsync(a => a.Id == attemptId, ct);
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
