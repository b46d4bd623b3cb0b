using Octokit;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// Runs attempts (SPEC section 7): resolves the ref, has <see cref="AttemptBuilder"/> package and publish (or validate)
/// the skill at the exact commit, and writes the result back. Callers serialize per connection (the job queue's
/// concurrency key), so the version choice never races with itself. Whether a failed try is retried is the caller's
/// decision: <see cref="RunAsync"/> throws <see cref="TransientPublishFailure"/>, the caller retries or gives up.
/// </summary>
public sealed class PublishService(
    AdminDbContext db, RepositoryBrowser browser, AttemptBuilder builder, WriteBack writeBack, IChangeFeed changes, TimeProvider clock)
{
    public const string PrereleasePrefix = RegistryVersion.GitHubPrereleasePrefix;

    /// <summary>
    /// Thrown when GitHub failed in a way a later try may not; the attempt is left running. The message describes the
    /// failure; <see cref="GiveUpMessage"/> is what the attempt ends with when there is no later try.
    /// </summary>
    public sealed class TransientPublishFailure(string message, string giveUpMessage, Exception inner) : Exception(message, inner)
    {
        public string GiveUpMessage { get; } = giveUpMessage;
    }

    /// <summary>
    /// Runs one queued attempt to its end: published, unchanged, skipped or failed. A GitHub failure a later try may not
    /// meet is thrown as <see cref="TransientPublishFailure"/>, with the attempt still running.
    /// </summary>
    public async Task RunAsync(Guid attemptId, CancellationToken ct)
    {
        // The attempt, its connection and the connection's entry in one statement, not two (one read fewer for every
        // publish; the publish p50 did not move measurably, README "Benchmarks" 2026-12-02). Both are tracked, so the
        // connection's Entry is fixed up from the entry read beside it.
        var loaded = await (
            from a in db.Attempts
            where a.Id == attemptId
            from c in db.Connections.Where(c => c.Id == a.ConnectionId).DefaultIfEmpty()
            select new { Attempt = a, Connection = c, Entry = c == null ? null : c.Entry }).SingleOrDefaultAsync(ct);
        var attempt = loaded?.Attempt;
        if (attempt is null || attempt.Status is not (AttemptStatus.Queued or AttemptStatus.Running)) return; // done before a crash
        var connection = loaded!.Connection;
        if (connection is null)
        {
            attempt.Finish(AttemptStatus.Failed, "The connection was deleted before this attempt ran.", clock.GetUtcNow());
            await SaveAndNotifyAsync(attempt, ct);
            return;
        }

        attempt.Start(clock.GetUtcNow());
        var span = System.Diagnostics.Activity.Current; // the job's span (the worker started it)
        span?.SetTag("selftune.connection.id", connection.Id);
        span?.SetTag("selftune.attempt.id", attempt.Id);

        // The start is recorded (and shown) before the first call to GitHub, which may take a while; an attempt whose
        // commit came with its webhook and that writes nothing back makes no call before publishing, and records its start
        // with its write-back status, in one write.
        var recorded = false;
        async Task RecordStartAsync()
        {
            if (recorded) return;
            await SaveAndNotifyAsync(attempt, ct);
            recorded = true;
        }

        var channel = WriteBack.Channel.None;
        AttemptOutcome result;
        try
        {
            if (attempt.CommitSha is null)
            {
                await RecordStartAsync();
                attempt.CommitSha = await browser.ResolveCommitAsync(connection,
                    attempt.SourceRef ?? throw new InvalidOperationException("An attempt needs a ref."), ct);
            }
            channel = await writeBack.PrepareAsync(attempt, connection, ct);
            if (channel != WriteBack.Channel.None && attempt.CheckRunId is null && attempt.StatusContext is null)
            {
                await RecordStartAsync();
                await writeBack.StartAsync(channel, attempt, connection, ct);
            }
            await SaveAndNotifyAsync(attempt, ct);

            result = await builder.RunAsync(connection, attempt, ct);
        }
        catch (PackagingException e)
        {
            result = AttemptOutcome.Refused(e);
        }
        catch (ProblemException e)
        {
            result = new AttemptOutcome(AttemptStatus.Failed, e.Message, null);
        }
        catch (Exception e) when (IsTransient(e) && !ct.IsCancellationRequested)
        {
            var what = GitHubFailures.Describe(e);
            throw new TransientPublishFailure(what, $"Could not read {connection.RepoFullName} from GitHub: {what}.", e);
        }

        attempt.Finish(result.Status, result.Message, clock.GetUtcNow(), result.Version, result.PublishedAt);
        if (channel != WriteBack.Channel.None) // the summary is the check run's or status's text: read only for one
            await writeBack.FinishAsync(channel, attempt, connection, await SummaryAsync(attempt, connection, ct), ct, result.Refusals, result.Warnings);
        await SaveAndNotifyAsync(attempt, ct);
        var outcome = new KeyValuePair<string, object?>("outcome", attempt.Status.ToString().ToLowerInvariant());
        SelfTuneTelemetry.PublishDuration.Record((attempt.FinishedAt!.Value - attempt.StartedAt!.Value).TotalSeconds, outcome);
    }

    /// <summary>Notes on an attempt left running by a <see cref="TransientPublishFailure"/> that it will be tried again.</summary>
    public async Task MarkRetryingAsync(Guid attemptId, string reason, CancellationToken ct)
    {
        var attempt = await db.Attempts.SingleOrDefaultAsync(a => a.Id == attemptId, ct);
        if (attempt is null || !attempt.NoteRetry(reason)) return;
        await SaveAndNotifyAsync(attempt, ct);
    }

    /// <summary>
    /// Ends an attempt whose caller gave up (GitHub still failing on the last try, an unexpected error on it, or the last
    /// try abandoned by a worker that died): failed, with the reason, and its check run or status concluded as a failure.
    /// </summary>
    public async Task AbandonAsync(Guid attemptId, string message, CancellationToken ct)
    {
        db.ChangeTracker.Clear();
        var attempt = await db.Attempts.SingleOrDefaultAsync(a => a.Id == attemptId, ct);
        if (attempt is null || !attempt.Abandon(message, clock.GetUtcNow())) return;
        var connection = await db.Connections.Include(c => c.Entry).SingleOrDefaultAsync(c => c.Id == attempt.ConnectionId, ct);
        if (connection is not null)
            await writeBack.FinishAsync(await writeBack.ResumeAsync(attempt, connection, ct), attempt, connection, message, ct);
        await SaveAndNotifyAsync(attempt, ct);
    }

    async Task SaveAndNotifyAsync(PublishAttempt attempt, CancellationToken ct)
    {
        await db.SaveChangesAsync(ct);
        changes.Publish(Change.OfAttempt(attempt));
    }

    async Task<string> SummaryAsync(PublishAttempt attempt, GitHubConnection connection, CancellationToken ct)
    {
        var lines = new List<string> { attempt.Message ?? "" };
        if (attempt.Version is not null) lines.Add($"Version: `{attempt.Version}` of `{connection.Entry!.Name}`");
        var version = attempt.Version is null ? null
            : await db.Versions.AsNoTracking().FirstOrDefaultAsync(v => v.EntryId == connection.EntryId && v.Version == attempt.Version, ct);
        if (version is not null) lines.Add($"Files: {version.FileCount}, size: {version.Size} bytes, sha256 `{version.ContentHash}`");
        return string.Join("\n\n", lines.Where(l => l.Length > 0));
    }


    static bool IsTransient(Exception e) =>
        (GitHubFailures.IsGitHubFailure(e) && e is not GitHubNotConfiguredException and not NotFoundException and not ForbiddenException)
        || e is IOException || e is TaskCanceledException;
}
