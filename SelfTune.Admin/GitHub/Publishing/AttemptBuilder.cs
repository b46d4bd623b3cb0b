namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>How an attempt's work ended: its final status and message, and the version it concerns.</summary>
public sealed record AttemptOutcome(AttemptStatus Status, string Message, string? Version, DateTimeOffset? PublishedAt = null);

/// <summary>
/// The work of an attempt whose commit is known (SPEC section 7): a pull request's skill is packaged and validated; a
/// push, tag or sync publishes the packaged skill to the registry under the release version its tag gives, or the
/// commit's prerelease. Packaging failures (<see cref="Registry.Packaging.PackagingException"/>) and registry refusals
/// (<see cref="ProblemException"/>) are thrown; <see cref="PublishService"/> ends the attempt with them.
/// </summary>
public sealed class AttemptBuilder(AdminDbContext db, SkillPackager packager, RegistryService registry)
{
    public Task<AttemptOutcome> RunAsync(GitHubConnection connection, PublishAttempt attempt, CancellationToken ct) =>
        attempt.Trigger == AttemptTrigger.PullRequest ? ValidateAsync(connection, attempt, ct) : PublishAsync(connection, attempt, ct);

    async Task<AttemptOutcome> PublishAsync(GitHubConnection connection, PublishAttempt attempt, CancellationToken ct)
    {
        var entry = connection.Entry!;
        if (!connection.AutoPublish && attempt.Trigger is AttemptTrigger.Push or AttemptTrigger.Tag)
            return new AttemptOutcome(AttemptStatus.Skipped, "Skipped: auto-publish is off; use Sync to publish.", null);
        var isTag = GitRef.IsTag(attempt.SourceRef, tagTrigger: attempt.Trigger == AttemptTrigger.Tag);
        string? releaseVersion = null;
        if (isTag)
        {
            var pattern = TagPattern.Parse(connection.TagPattern);
            if (!pattern.TryGetVersion(attempt.SourceRef!, out var v, out var reason))
                return new AttemptOutcome(AttemptStatus.Skipped, $"Skipped: {reason}.", null);
            releaseVersion = v;
        }

        await using var package = await packager.PackageAsync(connection, attempt.CommitSha!, ct);
        var provenance = new VersionProvenance(VersionSource.Github, isTag ? attempt.SourceRef : attempt.CommitSha, connection.RepoFullName);

        var version = releaseVersion is not null
            ? new VersionChoice(releaseVersion, Existing: false) // RegistryService decides unchanged / conflict for releases
            : await ChoosePrereleaseAsync(entry.Id, attempt.CommitSha!, package.Archive.Hash, ct);
        if (version.Existing)
            return new AttemptOutcome(AttemptStatus.Unchanged, $"{version.Value} is already published from the same content.", version.Value);

        try
        {
            var result = await registry.PublishAsync(entry, version.Value, ChangeSummary(attempt, connection), package.Archive, package.Package,
                provenance, connection.CreatedBy, ct);
            return result.Created
                ? new AttemptOutcome(AttemptStatus.Published, $"Published {version.Value} from {connection.RepoFullName}." + Warnings(package, entry), version.Value, result.Version.PublishedAt)
                : new AttemptOutcome(AttemptStatus.Unchanged, $"{version.Value} is already published from the same content.", version.Value);
        }
        catch (ProblemException e) when (e.Status == 409)
        {
            return new AttemptOutcome(AttemptStatus.Failed, $"version {version.Value} already exists with different content; the published version was left untouched.", version.Value);
        }
    }

    async Task<AttemptOutcome> ValidateAsync(GitHubConnection connection, PublishAttempt attempt, CancellationToken ct)
    {
        await using var package = await packager.PackageAsync(connection, attempt.CommitSha!, ct);
        return new AttemptOutcome(AttemptStatus.Skipped,
            $"Validated {package.Package.Files.Count} files ({package.Archive.Size} bytes) at {attempt.CommitSha![..7]}; pull requests are validated, not published." +
            Warnings(package, connection.Entry!), null);
    }

    /// <summary>
    /// What the Agent Skills specification asks for but the registry accepts (unknown keys, a name unlike the folder or
    /// entry). Versions store no warnings, so they travel in the attempt's message, which is also the check run's summary.
    /// </summary>
    static string Warnings(StagedSkill package, RegistryEntry entry) => PackagingWarning.Describe(package.Package.WarningsFor(entry.Name));

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

    static string ChangeSummary(PublishAttempt attempt, GitHubConnection connection) =>
        $"Published by SelfTune from {connection.RepoFullName}@{attempt.SourceRef} ({attempt.Trigger.ToString().ToLowerInvariant()}).";
}
