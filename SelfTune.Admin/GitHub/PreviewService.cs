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
                version = await AttemptBuilder.ChooseVersionAsync(db, connection.EntryId, releaseVersion, sha, package.Archive.Hash, ct);
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
                [.. e.Problems.Select(p => new PreviewProblem(p.FilePath, p.Message, p.Rule))]);
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) || e is IOException)
        {
            throw GitHubFailures.ToProblem(e, $"reading {connection.RepoFullName}@{reference}");
        }
    }

    static PreviewResponse Answer(GitHubConnection connection, string reference, string sha, string? tag, PreviewOutcome outcome,
        string message, string? version, StagedSkill? package, IReadOnlyList<PreviewProblem> problems) =>
        new(connection.Id, reference, sha, tag, outcome, message, version,
            package?.Package.Files.Select(f => new PreviewFile(f.Path, f.Size)).ToList() ?? [],
            package?.Package.Files.Count ?? 0, package?.Archive.Size ?? 0, package?.Archive.Hash, problems);
}
