namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// Sync (manual) and reconciliation (the sweep): compare the repository with the registry and publish what is missing.
/// Runs inside a job keyed by the connection, so it never overlaps a webhook publish of the same connection.
/// </summary>
public sealed class SyncService(
    AdminDbContext db, PublishService publisher, RepositoryBrowser browser, ConnectionDrift drift, IChangeFeed changes, TimeProvider clock,
    ILogger<SyncService> log)
{
    /// <summary>
    /// Manual: publishes the default branch head (unless already published) and the newest matching tag without a version;
    /// answers the release attempt when one was published, else the branch attempt. Reconcile: publishes every missed
    /// head and tag, creating attempts only for what is missing; one <paramref name="requested"/> by a person (Reconcile on
    /// the connection page or its API) also runs paused or auto-publish-off connections and retries what failed before.
    /// Both record drift (ConnectionDrift). Returns the attempt the caller reports, if any.
    /// </summary>
    public async Task<Guid?> RunAsync(Guid connectionId, AttemptTrigger trigger, CancellationToken ct, bool requested = false)
    {
        var connection = await db.Connections.AsNoTracking().SingleOrDefaultAsync(c => c.Id == connectionId, ct);
        if (connection is null) return null;
        await CloseInterruptedAsync(connectionId, ct);
        var manual = trigger == AttemptTrigger.Manual;
        requested |= manual;
        if (!requested && (connection.PausedReason is not null || !connection.AutoPublish)) return null;

        string head;
        List<(string Tag, RegistryVersion Version, string Sha)> tags;
        try
        {
            head = await browser.GetBranchHeadAsync(connection, ct);
            tags = await browser.GetReleaseTagsAsync(connection, ct);
        }
        catch (Exception e) when (e is ProblemException || GitHubFailures.IsGitHubFailure(e))
        {
            // A repository the installation no longer reaches is drift, not a failure worth retrying.
            var unreachable = await drift.UnreachableAsync(connection, e, ct);
            if (unreachable is not null) await drift.RecordAsync(connection, unreachable, ct);
            if (!requested)
            {
                if (unreachable is not null) return null;
                throw;
            }
            // The caller is waiting for an answer: record why, as a failed attempt, instead of retrying silently.
            var failed = PublishAttempt.Create(connection, trigger, connection.DefaultBranch, null, clock.GetUtcNow()).EndBeforeWork(AttemptStatus.Failed,
                unreachable ?? $"Could not read {connection.RepoFullName} from GitHub: {(e is ProblemException p ? p.Message : GitHubFailures.Describe(e))}");
            db.Attempts.Add(failed);
            await db.SaveChangesAsync(ct);
            changes.Publish(Change.OfAttempt(failed));
            return failed.Id;
        }

        var published = await db.Versions.AsNoTracking().Where(v => v.EntryId == connection.EntryId)
            .Select(v => new { v.Version, v.SourceRef }).ToListAsync(ct);
        var versions = published.Select(v => v.Version).ToHashSet();
        var missingTags = tags.Where(t => !versions.Contains(t.Version.Text)).OrderByDescending(t => t.Version).ToList();

        // The sweep does not retry what already failed or was skipped for the current settings (a secret file, a moved
        // tag): it would fail the same way every 15 minutes. A push, a settings change or Sync tries again.
        var settled = requested ? [] : (await db.Attempts.AsNoTracking()
            .Where(a => a.ConnectionId == connection.Id && a.CreatedAt >= connection.UpdatedAt
                && (a.Status == AttemptStatus.Failed || a.Status == AttemptStatus.Skipped) && a.SourceRef != null)
            .Select(a => a.SourceRef!).ToListAsync(ct)).ToHashSet();

        Guid? branchAttempt = null;
        if (manual || (!published.Any(v => v.SourceRef == head) && !settled.Contains(head)))
            branchAttempt = await RunAttemptAsync(connection, trigger, head, head, ct);

        Guid? releaseAttempt = null;
        foreach (var tag in manual ? missingTags.Take(1) : missingTags.Where(t => !settled.Contains(t.Tag)))
        {
            var id = await RunAttemptAsync(connection, trigger, tag.Tag, tag.Sha, ct);
            releaseAttempt ??= id;
        }
        // After publishing: a moved tag's new commit may just have been released under a new tag, which settles it.
        await drift.RecordAsync(connection, await drift.MovedTagsAsync(connection, tags, ct), ct);

        if (releaseAttempt is { } release && await db.Attempts.AnyAsync(a => a.Id == release && a.Status == AttemptStatus.Published, ct))
            return release;
        return branchAttempt ?? releaseAttempt;
    }

    /// <summary>
    /// Sync jobs of a connection run one at a time, so a sync or reconcile attempt still open when the next one starts
    /// belongs to a run that was killed; it is closed with that reason (the version itself is never written twice).
    /// </summary>
    async Task CloseInterruptedAsync(Guid connectionId, CancellationToken ct)
    {
        var open = await db.Attempts.Where(a => a.ConnectionId == connectionId
                && (a.Trigger == AttemptTrigger.Manual || a.Trigger == AttemptTrigger.Reconcile)
                && (a.Status == AttemptStatus.Queued || a.Status == AttemptStatus.Running)).ToListAsync(ct);
        foreach (var attempt in open)
            attempt.Abandon("Interrupted: the app stopped while this attempt ran; the next sync or sweep picks up what is missing.", clock.GetUtcNow());
        if (open.Count == 0) return;
        await db.SaveChangesAsync(ct);
        foreach (var attempt in open) changes.Publish(Change.OfAttempt(attempt));
    }

    async Task<Guid> RunAttemptAsync(GitHubConnection connection, AttemptTrigger trigger, string sourceRef, string sha, CancellationToken ct)
    {
        var attempt = PublishAttempt.Create(connection, trigger, sourceRef, null, clock.GetUtcNow());
        attempt.CommitSha = sha;
        db.Attempts.Add(attempt);
        await db.SaveChangesAsync(ct);
        changes.Publish(Change.OfAttempt(attempt));
        try
        {
            await publisher.RunAsync(attempt.Id, ct);
        }
        catch (PublishService.TransientPublishFailure e)
        {
            // A sync attempt is not retried: it ends here, failed with the reason; the sweep will try again later.
            await publisher.AbandonAsync(attempt.Id, e.GiveUpMessage, ct);
        }
        log.LogInformation("{Trigger} attempt {AttemptId} for {Repo}@{Ref} finished", trigger, attempt.Id, connection.RepoFullName, sourceRef);
        return attempt.Id;
    }
}
