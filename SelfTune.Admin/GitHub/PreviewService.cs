using Octokit;

namespace SelfTune.Admin.GitHub;

/// <summary>
/// The dry run (issue 13): what a publish of a ref of a connection would do — the version, the files, the size, the
/// content hash and the validation problems — without publishing. It packages through the same
/// <see cref="SkillPackager"/> and chooses the version with the same <see cref="AttemptBuilder.ChooseVersionAsync"/> as a
/// publish, so a later publish of that ref has the hash and the version the preview answered. A preview is not an attempt:
/// it records nothing and writes nothing back to GitHub; the staged archive is discarded. Each call uses its own
/// DbContext (pages call it).
/// </summary>
public sealed class PreviewService(
    IDbContextFactory<AdminDbContext> dbFactory, ConnectionService connections, RepositoryBrowser browser, SkillPackager packager)
{
    public const int MaxRefLength = 255;

    /// <exception cref="ProblemException">
    /// Not allowed, no such connection (404), a missing or unknown ref (400, 422), or GitHub failing (502, 503).
    /// </exception>
    public async Task<PreviewResponse> PreviewAsync(Actor actor, string connectionId, string? reference, CancellationToken ct)
    {
        actor.Require(MemberRole.Member, "preview a publish");
        var (connection, _, _) = await connections.GetAsync(actor.OrgId, connectionId, ct);
        reference = reference?.Trim();
        if (string.IsNullOrEmpty(reference) || reference.Length > MaxRefLength || reference.Any(char.IsControl))
            throw ProblemException.Invalid("ref", $"ref is required: a tag, a branch or a commit SHA of {connection.RepoFullName} (at most {MaxRefLength} characters).");

        string sha;
        string? tag;
        try
        {
            (sha, tag) = await browser.ResolveRefAsync(connection.InstallationId, connection.RepoOwner, connection.RepoName, reference, ct);
        }
        catch (Exception e) when (e is NotFoundException or ApiValidationException)
        {
            // A SHA GitHub does not know, 404 or 422 (tags and branches are answered by ResolveRefAsync itself).
            throw new ProblemException(422, "validation_failed", $"{connection.RepoFullName} has no tag, branch or commit '{reference}'.",
                new Dictionary<string, string[]> { ["ref"] = [$"'{reference}' is not a tag, branch or commit of {connection.RepoFullName}."] });
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) || e is IOException)
        {
            throw GitHubFailures.ToProblem(e, $"reading {connection.RepoFullName}@{reference}");
        }

        // A tag publishes the release its name gives under the pattern; a branch or a commit the commit's prerelease.
        string? releaseVersion = null;
        if (tag is not null && !AttemptBuilder.TryGetReleaseVersion(connection, tag, out releaseVersion, out var reason))
            return Answer(connection, reference, sha, tag, PreviewOutcome.Skipped, $"A publish of {tag} is skipped: {reason}.", null, null, []);

        try
        {
            await using var package = await packager.PackageAsync(connection, sha, ct);
            VersionChoice version;
            await using (var db = await dbFactory.CreateDbContextAsync(ct))
                version = await AttemptBuilder.ChooseVersionAsync(db, connection.EntryId, releaseVersion, sha, package, ct);
            var (outcome, message, problems) = version switch
            {
                { Existing: true } => (PreviewOutcome.Unchanged, AttemptBuilder.UnchangedMessage(version.Value), (IReadOnlyList<PreviewProblem>)[]),
                { Conflicts: true } => (PreviewOutcome.Fails, $"A publish would fail: version {version.Value} already exists with different content.",
                    [new PreviewProblem(null, $"version {version.Value} already exists with different content; versions are immutable, tag a new version.", "version_exists")]),
                _ => (PreviewOutcome.Publishes, $"A publish of {GitRef.Short(reference)} would publish {version.Value}.", []),
            };
            return Answer(connection, reference, sha, tag, outcome, message, version.Value, package, problems);
        }
        catch (PackagingException e)
        {
            return Answer(connection, reference, sha, tag, PreviewOutcome.Fails, $"A publish would fail: {e.Message}", releaseVersion, null,
                [.. e.Problems.Select(PreviewProblem.From)]);
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) || e is IOException)
        {
            throw GitHubFailures.ToProblem(e, $"reading {connection.RepoFullName}@{reference}");
        }
    }

    /// <summary>
    /// The setup form's check of a skill folder before its connection exists: <paramref name="skillPath"/> of the repository
    /// at <paramref name="sha"/>, packaged and validated exactly as a publish packages it (SKILL.md and its front matter,
    /// the limits, secrets). Nothing is stored; the staged archive is discarded.
    /// </summary>
    /// <exception cref="ProblemException">Not allowed, an installation not bound to the org (404) or unusable (409), GitHub failing.</exception>
    public async Task<FolderCheck> CheckFolderAsync(Actor actor, long installationId, string owner, string repo, string skillPath, string sha,
        CancellationToken ct)
    {
        actor.Require(MemberRole.Member, "preview a publish");
        var installation = await connections.GetBoundInstallationAsync(actor.OrgId, installationId, ct);
        if (installation.UnusableReason() is { } unusable) throw ProblemException.Conflict(unusable);
        try
        {
            await using var package = await packager.PackageAsync(installationId, owner, repo, skillPath, sha, ct);
            var skill = package.Package;
            return new FolderCheck(skillPath, sha, skill.Skill.Name, skill.Files.Count, package.Archive.Size, [],
                [.. skill.Warnings.Select(PreviewProblem.From)]);
        }
        catch (PackagingException e)
        {
            return new FolderCheck(skillPath, sha, null, 0, 0, [.. e.Problems.Select(PreviewProblem.From)],
                [.. e.Warnings.Select(PreviewProblem.From)]); // every problem and warning, as the dry run shows
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) || e is IOException)
        {
            throw GitHubFailures.ToProblem(e, $"reading {owner}/{repo}@{GitRef.Short(sha)}");
        }
    }

    static PreviewResponse Answer(GitHubConnection connection, string reference, string sha, string? tag, PreviewOutcome outcome,
        string message, string? version, StagedSkill? package, IReadOnlyList<PreviewProblem> problems) =>
        new(connection.Id, reference, sha, tag, outcome, message, version,
            package?.Package.Files.Select(f => new PreviewFile(f.Path, f.Size)).ToList() ?? [],
            package?.Package.Files.Count ?? 0, package?.Archive.Size ?? 0, package?.Archive.Hash, problems);
}

/// <summary>
/// A skill folder checked before connecting it: the skill's name from SKILL.md when it packages, its size, the problems
/// that would make a publish fail (empty when it packages) and the warnings a publish would carry.
/// </summary>
public sealed record FolderCheck(string SkillPath, string CommitSha, string? SkillName, int FileCount, long Size,
    IReadOnlyList<PreviewProblem> Problems, IReadOnlyList<PreviewProblem> Warnings);
