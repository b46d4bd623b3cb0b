using System.Diagnostics.CodeAnalysis;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// How an attempt's work ended: its final status and message, and the version it concerns; and what the validator found,
/// which the check run shows on the files (<see cref="WriteBack"/>).
/// </summary>
public sealed record AttemptOutcome(AttemptStatus Status, string Message, string? Version, DateTimeOffset? PublishedAt = null)
{
    public IReadOnlyList<PackagingProblem> Refusals { get; init; } = [];
    public IReadOnlyList<PackagingWarning> Warnings { get; init; } = [];

    /// <summary>A skill the validator refused: failed, with every problem.</summary>
    public static AttemptOutcome Refused(PackagingException e) =>
        new(AttemptStatus.Failed, e.Message, null) { Refusals = e.Problems, Warnings = e.Warnings };
}

/// <summary>
/// The version a publish would take, whether it is published already, and whether with the same content
/// (<see cref="RegistryService.HoldsSameContent"/>): the same makes the publish <c>unchanged</c>, other content a conflict
/// (versions are immutable; the registry refuses it).
/// </summary>
public sealed record VersionChoice(string Value, bool Published, bool SameContent)
{
    public bool Existing => Published && SameContent;
    public bool Conflicts => Published && !SameContent;
}

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
        if (isTag && !TryGetReleaseVersion(connection, attempt.SourceRef!, out releaseVersion, out var reason))
            return new AttemptOutcome(AttemptStatus.Skipped, $"Skipped: {reason}.", null);

        await using var package = await packager.PackageAsync(connection, attempt.CommitSha!, ct);
        var provenance = new VersionProvenance(VersionSource.Github, isTag ? attempt.SourceRef : attempt.CommitSha, connection.RepoFullName);

        var version = await ChooseVersionAsync(db, entry.Id, releaseVersion, attempt.CommitSha!, package, ct);
        var warnings = package.Package.WarningsFor(entry.Name);
        if (version.Existing)
            return new AttemptOutcome(AttemptStatus.Unchanged, UnchangedMessage(version.Value), version.Value) { Warnings = warnings };

        try
        {
            var result = await registry.PublishAsync(entry, version.Value, ChangeSummary(attempt, connection), package.Archive, package.Package,
                provenance, connection.CreatedBy, ct, readAsAbsent: !version.Published);
            return (result.Created
                ? new AttemptOutcome(AttemptStatus.Published, $"Published {version.Value} from {connection.RepoFullName}." + PackagingWarning.Describe(warnings), version.Value, result.Version.PublishedAt)
                : new AttemptOutcome(AttemptStatus.Unchanged, UnchangedMessage(version.Value), version.Value)) with { Warnings = warnings };
        }
        catch (ProblemException e) when (e.Status == 409)
        {
            return new AttemptOutcome(AttemptStatus.Failed, ConflictMessage(version.Value), version.Value);
        }
    }

    async Task<AttemptOutcome> ValidateAsync(GitHubConnection connection, PublishAttempt attempt, CancellationToken ct)
    {
        await using var package = await packager.PackageAsync(connection, attempt.CommitSha!, ct);
        // What the Agent Skills specification asks for but the registry accepts (unknown keys, a name unlike the folder or
        // entry) travels in the attempt's message, which is also the check run's summary, and as annotations on SKILL.md.
        var warnings = package.Package.WarningsFor(connection.Entry!.Name);
        return new AttemptOutcome(AttemptStatus.Skipped,
            $"Validated {package.Package.Files.Count} files ({package.Archive.Size} bytes) at {attempt.CommitSha![..7]}; pull requests are validated, not published." +
            PackagingWarning.Describe(warnings), null) { Warnings = warnings };
    }


    /// <summary>The release version a tag gives under the connection's tag pattern; false with the reason when it gives none.</summary>
    public static bool TryGetReleaseVersion(GitHubConnection connection, string tag, [NotNullWhen(true)] out string? version, out string? reason)
    {
        version = null;
        if (!TagPattern.Parse(connection.TagPattern).TryGetVersion(tag, out var v, out reason)) return false;
        version = v;
        return true;
    }

    /// <summary>
    /// The version a publish of <paramref name="package"/> at <paramref name="sha"/> takes: the tag's
    /// <paramref name="releaseVersion"/>, else <c>0.0.0-github.&lt;sha7&gt;</c>, or the same content's existing version, or —
    /// when the content at that commit changed (e.g. a new skill_path) — the next free suffix <c>.1</c>, <c>.2</c>, ...:
    /// versions are never overwritten. Publishing and the dry run (PreviewService) both ask here, so they agree.
    /// </summary>
    public static async Task<VersionChoice> ChooseVersionAsync(AdminDbContext db, Guid entryId, string? releaseVersion, string sha, StagedSkill package, CancellationToken ct)
    {
        bool Same(SkillVersion v) => RegistryService.HoldsSameContent(v, VersionSource.Github, package.Archive.Hash, package.Package.Files);
        if (releaseVersion is not null)
        {
            var published = await db.Versions.AsNoTracking().FirstOrDefaultAsync(v => v.EntryId == entryId && v.Version == releaseVersion, ct);
            return new VersionChoice(releaseVersion, published is not null, published is not null && Same(published));
        }
        var stem = RegistryVersion.ForCommit(sha);
        var taken = await db.Versions.AsNoTracking()
            .Where(v => v.EntryId == entryId && (v.Version == stem || v.Version.StartsWith(stem + "."))).ToListAsync(ct);
        if (taken.FirstOrDefault(Same) is { } same) return new VersionChoice(same.Version, Published: true, SameContent: true);
        if (taken.Count == 0) return new VersionChoice(stem, Published: false, SameContent: false);
        var next = taken.Select(v => v.Version == stem ? 0 : int.TryParse(v.Version[(stem.Length + 1)..], out var n) ? n : 0).Max() + 1;
        return new VersionChoice($"{stem}.{next}", Published: false, SameContent: false);
    }

    public static string UnchangedMessage(string version) => $"{version} is already published from the same content.";

    public static string ConflictMessage(string version) =>
        $"version {version} already exists with different content; the published version was left untouched.";

    static string ChangeSummary(PublishAttempt attempt, GitHubConnection connection) =>
        $"Published by SelfTune from {connection.RepoFullName}@{attempt.SourceRef} ({attempt.Trigger.ToString().ToLowerInvariant()}).";
}
