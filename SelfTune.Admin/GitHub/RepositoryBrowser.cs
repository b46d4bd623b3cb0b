using Octokit;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Infrastructure;

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
/// Reads a repository through an installation for the setup page: skill folders at a branch head (git tree API,
/// recursive) and the repository's tags. GitHub failures become <see cref="ProblemException"/>s with a plain message.
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
}
