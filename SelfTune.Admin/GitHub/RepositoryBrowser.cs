using Octokit;

namespace SelfTune.Admin.GitHub;

/// <summary>The folders of a branch head that hold a <c>SKILL.md</c> ("." is the root).</summary>
public sealed record SkillFolders(string Branch, string CommitSha, IReadOnlyList<string> Folders, bool Truncated);

/// <summary>What an existing tag would do under a tag pattern.</summary>
public sealed record TagPreviewRow(string Tag, bool Matches, string? Version, string? Reason)
{
    public bool Publishes => Matches && Version is not null;
}

/// <summary>A tag pattern checked against a repository's tags: the pattern's error, or a row per tag.</summary>
public sealed record TagPreview(string? PatternError, IReadOnlyList<TagPreviewRow> Rows)
{
    public IEnumerable<TagPreviewRow> Publishing => Rows.Where(r => r.Publishes);
    public IEnumerable<TagPreviewRow> Skipped => Rows.Where(r => r.Matches && !r.Publishes);
    public IEnumerable<TagPreviewRow> Unmatched => Rows.Where(r => !r.Matches);

    /// <summary>Evaluates <paramref name="pattern"/> exactly as publishing does (TagPattern).</summary>
    public static TagPreview For(string? pattern, IEnumerable<string> tags)
    {
        if (!TagPattern.TryParse(pattern, out var parsed, out var error)) return new TagPreview(error, []);
        var rows = tags.Select(tag =>
        {
            if (!parsed!.IsMatch(tag)) return new TagPreviewRow(tag, false, null, null);
            return parsed.TryGetVersion(tag, out var version, out var reason)
                ? new TagPreviewRow(tag, true, version, null)
                : new TagPreviewRow(tag, true, null, reason);
        }).ToList();
        return new TagPreview(null, rows);
    }
}

/// <summary>
/// Reads a repository through an installation. For the setup page: skill folders at a branch head (git tree API,
/// recursive) and the repository's tags; GitHub failures become <see cref="ProblemException"/>s with a plain message.
/// For publishing and imports: commits, branch heads and release tags; there a missing ref is a <see cref="ProblemException"/>
/// and any other GitHub failure is thrown as it is, so the caller can tell one worth retrying.
/// </summary>
public sealed class RepositoryBrowser(IGitHubClientFactory github)
{
    public const string SkillFile = "SKILL.md";

    public async Task<SkillFolders> ListSkillFoldersAsync(long installationId, string owner, string repo, string branch, CancellationToken ct = default)
    {
        if (GitHubRules.BranchError(branch) is { } branchError) throw ProblemException.Invalid("default_branch", branchError);
        try
        {
            var client = await github.CreateInstallationClientAsync(installationId, ct);
            Branch head;
            try
            {
                head = await client.Repository.Branch.Get(owner, repo, branch);
            }
            catch (NotFoundException)
            {
                throw ProblemException.NotFound($"{owner}/{repo} has no branch '{branch}'.");
            }
            var sha = head.Commit.Sha;
            var tree = await client.Git.Tree.GetRecursive(owner, repo, sha);
            var folders = tree.Tree
                .Where(i => i.Type.StringValue == "blob" && (i.Path == SkillFile || i.Path.EndsWith("/" + SkillFile, StringComparison.Ordinal)))
                .Select(i => i.Path == SkillFile ? "." : i.Path[..^(SkillFile.Length + 1)])
                .Distinct(StringComparer.Ordinal)
                .OrderBy(p => p == "." ? "" : p, StringComparer.Ordinal)
                .ToList();
            return new SkillFolders(branch, sha, folders, tree.Truncated);
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, $"reading the files of {owner}/{repo} at {branch}");
        }
    }

    /// <summary>
    /// Whether the branch head holds a SKILL.md in any folder (the repository list's mark): true or false, or null when
    /// GitHub could not be asked. A repository without the branch (an empty one) holds none.
    /// </summary>
    public async Task<bool?> HasSkillAsync(long installationId, string owner, string repo, string branch, CancellationToken ct = default)
    {
        try
        {
            return (await ListSkillFoldersAsync(installationId, owner, repo, branch, ct)).Folders.Count > 0;
        }
        catch (ProblemException e)
        {
            return e.Status == 404 ? false : null;
        }
    }

    /// <summary>The repository's tag names (all pages), in GitHub's order.</summary>
    public async Task<IReadOnlyList<string>> ListTagsAsync(long installationId, string owner, string repo, CancellationToken ct = default)
    {
        try
        {
            var client = await github.CreateInstallationClientAsync(installationId, ct);
            var tags = await client.Repository.GetAllTags(owner, repo, new ApiOptions { PageSize = 100 });
            return tags.Select(t => t.Name).ToList();
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, $"listing the tags of {owner}/{repo}");
        }
    }

    /// <summary>The commit an attempt's source ref names: a full SHA itself (in lower case), a tag the commit it points at.</summary>
    public async Task<string> ResolveCommitAsync(GitHubConnection connection, string sourceRef, CancellationToken ct)
    {
        if (GitRef.TryGetSha(sourceRef, out var sha)) return sha;
        var client = await github.CreateInstallationClientAsync(connection.InstallationId, ct);
        try
        {
            // Peels annotated tags to the commit they point at.
            var commit = await client.Repository.Commit.Get(connection.RepoOwner, connection.RepoName, GitRef.ForTag(sourceRef));
            return commit.Sha;
        }
        catch (Exception e) when (e is NotFoundException or ApiValidationException)
        {
            throw new ProblemException(404, "not_found", $"Tag {sourceRef} no longer exists in {connection.RepoFullName}.");
        }
    }

    /// <summary>The commit a ref names, and the tag name when the ref is a tag (GitHub peels annotated tags).</summary>
    public async Task<(string Sha, string? Tag)> ResolveRefAsync(long installationId, string owner, string repo, string reference, CancellationToken ct)
    {
        var client = await github.CreateInstallationClientAsync(installationId, ct);
        if (GitRef.TryGetSha(reference, out var sha))
            return ((await client.Repository.Commit.Get(owner, repo, sha)).Sha, null);
        try
        {
            return ((await client.Repository.Commit.Get(owner, repo, GitRef.ForTag(reference))).Sha, reference);
        }
        catch (Exception e) when (e is NotFoundException or ApiValidationException) { }
        try
        {
            return ((await client.Repository.Commit.Get(owner, repo, reference)).Sha, null);
        }
        catch (Exception e) when (e is NotFoundException or ApiValidationException)
        {
            throw new ProblemException(422, "validation_failed", $"{owner}/{repo} has no tag, branch or commit '{reference}'.",
                new Dictionary<string, string[]> { ["ref"] = [$"'{reference}' is not a tag, branch or commit of {owner}/{repo}."] });
        }
    }

    /// <summary>The default branch's head commit.</summary>
    public async Task<string> GetBranchHeadAsync(GitHubConnection connection, CancellationToken ct)
    {
        var client = await github.CreateInstallationClientAsync(connection.InstallationId, ct);
        try
        {
            var branch = await client.Repository.Branch.Get(connection.RepoOwner, connection.RepoName, connection.DefaultBranch);
            return branch.Commit.Sha;
        }
        catch (NotFoundException)
        {
            throw new ProblemException(404, "not_found", $"Branch {connection.DefaultBranch} does not exist in {connection.RepoFullName}.");
        }
    }

    /// <summary>The repository's tags that match the pattern and give a registry version: (tag, version, commit sha).</summary>
    public async Task<List<(string Tag, RegistryVersion Version, string Sha)>> GetReleaseTagsAsync(GitHubConnection connection, CancellationToken ct)
    {
        var client = await github.CreateInstallationClientAsync(connection.InstallationId, ct);
        var tags = await client.Repository.GetAllTags(connection.RepoOwner, connection.RepoName, new ApiOptions { PageSize = 100 });
        var pattern = TagPattern.Parse(connection.TagPattern);
        var result = new List<(string, RegistryVersion, string)>();
        foreach (var tag in tags)
            if (pattern.TryGetVersion(tag.Name, out var v, out _))
                result.Add((tag.Name, RegistryVersion.Parse(v), tag.Commit.Sha));
        return result;
    }
}
