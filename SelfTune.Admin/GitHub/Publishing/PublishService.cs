using Microsoft.EntityFrameworkCore;
using Octokit;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// Runs attempts (SPEC section 7): resolves the ref, packages the skill from the repository archive at the exact commit,
/// publishes through <see cref="RegistryService"/> and writes the result back. Callers serialize per connection (the job
/// queue's concurrency key), so the version choice below never races with itself.
/// </summary>
public sealed class PublishService(
    AdminDbContext db, RepositoryBrowser browser, SkillPackager packager, RegistryService registry, WriteBack writeBack,
    AttemptNotifier notifier, TimeProvider clock)
{
    public const string PrereleasePrefix = RegistryVersion.GitHubPrereleasePrefix;

    /// <summary>Thrown when GitHub failed in a way a later try may not (the job queue retries it).</summary>
    public sealed class TransientPublishFailure(string message, Exception inner) : Exception(message, inner);

    /// <summary>Forwards to <see cref="PublishAttempt.Create"/> (kept for WebhookProcessor until it calls the entity).</summary>
    public PublishAttempt NewAttempt(GitHubConnection connection, AttemptTrigger trigger, string? sourceRef, string? deliveryId) =>
        PublishAttempt.Create(connection, trigger, sourceRef, deliveryId, clock.GetUtcNow());

    /// <summary>Forwards to <see cref="PublishAttempt.Skip"/> (kept for WebhookProcessor until it calls the entity).</summary>
    public PublishAttempt Skipped(GitHubConnection connection, AttemptTrigger trigger, string? sourceRef, string? deliveryId, string message) =>
        NewAttempt(connection, trigger, sourceRef, deliveryId).Skip(message);

    /// <summary>
    /// Runs one queued attempt to its end. <paramref name="finalTry"/> says whether a GitHub failure ends the attempt as
    /// failed (true) or is thrown as <see cref="TransientPublishFailure"/> for the queue to retry.
    /// </summary>
    public async Task RunAsync(Guid attemptId, bool finalTry, CancellationToken ct)
    {
        var attempt = await db.Attempts.SingleOrDefaultAsync(a => a.Id == attemptId, ct);
        if (attempt is null || attempt.Status is not (AttemptStatus.Queued or AttemptStatus.Running)) return; // done before a crash
        var connection = await db.Connections.Include(c => c.Entry).SingleOrDefaultAsync(c => c.Id == attempt.ConnectionId, ct);
        if (connection is null)
        {
            attempt.Finish(AttemptStatus.Failed, "The connection was deleted before this attempt ran.", clock.GetUtcNow());
            await SaveAndNotifyAsync(attempt, ct);
            return;
        }

        attempt.Start(clock.GetUtcNow());
        await SaveAndNotifyAsync(attempt, ct);

        var channel = WriteBack.Channel.None;
        Outcome result;
        try
        {
            attempt.CommitSha ??= await browser.ResolveCommitAsync(connection,
                attempt.SourceRef ?? throw new InvalidOperationException("An attempt needs a ref."), ct);
            channel = await writeBack.PrepareAsync(attempt, connection, ct);
            if (attempt.CheckRunId is null && attempt.StatusContext is null) await writeBack.StartAsync(channel, attempt, connection, ct);
            await SaveAndNotifyAsync(attempt, ct);

            result = attempt.Trigger == AttemptTrigger.PullRequest
                ? await ValidateAsync(connection, attempt, ct)
                : await PublishAsync(connection, attempt, ct);
        }
        catch (Exception e) when (e is PackagingException or ProblemException)
        {
            result = new Outcome(AttemptStatus.Failed, e.Message, null);
        }
        catch (Exception e) when (IsTransient(e) && !ct.IsCancellationRequested)
        {
            var what = GitHubFailures.Describe(e);
            if (!finalTry)
            {
                attempt.Message = $"Retrying: {what}.";
                await SaveAndNotifyAsync(attempt, ct);
                throw new TransientPublishFailure(what, e);
            }
            result = new Outcome(AttemptStatus.Failed, $"Could not read {connection.RepoFullName} from GitHub: {what}.", null);
        }

        attempt.Finish(result.Status, result.Message, clock.GetUtcNow(), result.Version, result.PublishedAt);
        await writeBack.FinishAsync(channel, attempt, connection, await SummaryAsync(attempt, connection, ct), ct);
        await SaveAndNotifyAsync(attempt, ct);
    }

    /// <summary>
    /// Ends an attempt whose job gave up (an unexpected error on its last try, or its last try abandoned by a worker that
    /// died): failed, with the reason, and its check run or status concluded as a failure.
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

    sealed record Outcome(AttemptStatus Status, string Message, string? Version, DateTimeOffset? PublishedAt = null);

    async Task<Outcome> PublishAsync(GitHubConnection connection, PublishAttempt attempt, CancellationToken ct)
    {
        var entry = connection.Entry!;
        if (!connection.AutoPublish && attempt.Trigger is AttemptTrigger.Push or AttemptTrigger.Tag)
            return new Outcome(AttemptStatus.Skipped, "Skipped: auto-publish is off; use Sync to publish.", null);
        var isTag = GitRef.IsTag(attempt.SourceRef, tagTrigger: attempt.Trigger == AttemptTrigger.Tag);
        string? releaseVersion = null;
        if (isTag)
        {
            var pattern = TagPattern.Parse(connection.TagPattern);
            if (!pattern.TryGetVersion(attempt.SourceRef!, out var v, out var reason))
                return new Outcome(AttemptStatus.Skipped, $"Skipped: {reason}.", null);
            releaseVersion = v;
        }

        await using var package = await packager.PackageAsync(connection, attempt.CommitSha!, ct);
        var provenance = new VersionProvenance(VersionSource.Github, isTag ? attempt.SourceRef : attempt.CommitSha, connection.RepoFullName);

        var version = releaseVersion is not null
            ? new VersionChoice(releaseVersion, Existing: false) // RegistryService decides unchanged / conflict for releases
            : await ChoosePrereleaseAsync(entry.Id, attempt.CommitSha!, package.Archive.Hash, ct);
        if (version.Existing)
            return new Outcome(AttemptStatus.Unchanged, $"{version.Value} is already published from the same content.", version.Value);

        try
        {
            var result = await registry.PublishAsync(entry, version.Value, ChangeSummary(attempt, connection), package.Archive, package.Package,
                provenance, connection.CreatedBy, ct);
            return result.Created
                ? new Outcome(AttemptStatus.Published, $"Published {version.Value} from {connection.RepoFullName}.", version.Value, result.Version.PublishedAt)
                : new Outcome(AttemptStatus.Unchanged, $"{version.Value} is already published from the same content.", version.Value);
        }
        catch (ProblemException e) when (e.Status == 409)
        {
            return new Outcome(AttemptStatus.Failed, $"version {version.Value} already exists with different content; the published version was left untouched.", version.Value);
        }
    }

    async Task<Outcome> ValidateAsync(GitHubConnection connection, PublishAttempt attempt, CancellationToken ct)
    {
        await using var package = await packager.PackageAsync(connection, attempt.CommitSha!, ct);
        return new Outcome(AttemptStatus.Skipped,
            $"Validated {package.Package.Files.Count} files ({package.Archive.Size} bytes) at {attempt.CommitSha![..7]}; pull requests are validated, not published.", null);
    }

    readonly record struct VersionChoice(string Value, bool Existing);

    /// <summary>
    /// <c>0.0.0-github.&lt;sha7&gt;</c>, or the same content's existing version, or — when the content at that commit changed
    /// (e.g. a new skill_path) — the next free suffix <c>.1</c>, <c>.2</c>, ...: versions are never overwritten.
    /// </summary>
    async Task<VersionChoice> ChoosePrereleaseAsync(Guid entryId, string sha, string hash, CancellationToken ct)
    {
        var stem = RegistryVersion.ForCommit(sha);
        var taken = await db.Versions.AsNoTracking()
            .Where(v => v.EntryId == entryId && (v.Version == stem || v.Version.StartsWith(stem + ".")))
            .Select(v => new { v.Version, v.ContentHash }).ToListAsync(ct);
        if (taken.FirstOrDefault(v => v.ContentHash == hash) is { } same) return new VersionChoice(same.Version, true);
        if (taken.Count == 0) return new VersionChoice(stem, false);
        var next = taken.Select(v => v.Version == stem ? 0 : int.TryParse(v.Version[(stem.Length + 1)..], out var n) ? n : 0).Max() + 1;
        return new VersionChoice($"{stem}.{next}", false);
    }

    async Task SaveAndNotifyAsync(PublishAttempt attempt, CancellationToken ct)
    {
        await db.SaveChangesAsync(ct);
        notifier.Publish(attempt);
    }

    static string? ChangeSummary(PublishAttempt attempt, GitHubConnection connection) =>
        $"Published by SelfTune from {connection.RepoFullName}@{attempt.SourceRef} ({attempt.Trigger.ToString().ToLowerInvariant()}).";

    async Task<string> SummaryAsync(PublishAttempt attempt, GitHubConnection connection, CancellationToken ct)
    {
        var lines = new List<string> { attempt.Message ?? "" };
        if (attempt.Version is not null) lines.Add($"Version: `{attempt.Version}` of `{connection.Entry!.Name}`");
        var version = attempt.Version is null ? null
            : await db.Versions.AsNoTracking().FirstOrDefaultAsync(v => v.EntryId == connection.EntryId && v.Version == attempt.Version, ct);
        if (version is not null) lines.Add($"Files: {version.FileCount}, size: {version.Size} bytes, sha256 `{version.ContentHash}`");
        return string.Join("\n\n", lines.Where(l => l.Length > 0));
    }

    /// <summary>Forwards to <see cref="GitRef.IsSha"/> (kept for ConnectionDetail.razor, another worktree's file).</summary>
    public static bool IsSha(string value) => GitRef.IsSha(value);

    static bool IsTransient(Exception e) =>
        (GitHubFailures.IsGitHubFailure(e) && e is not GitHubNotConfiguredException and not NotFoundException and not ForbiddenException)
        || e is IOException || e is TaskCanceledException;
}
