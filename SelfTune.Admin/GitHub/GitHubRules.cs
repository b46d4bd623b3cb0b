namespace SelfTune.Admin.GitHub;

/// <summary>Input rules for connection fields that the seed leaves open (SPEC section 6).</summary>
public static class GitHubRules
{
    public const int MaxSkillPathLength = 1024;

    /// <summary>
    /// Reads a skill_path the one way publishing will (<see cref="PackagingRules.NormalizeSkillPath"/>): its canonical form
    /// ("." for the root, "skills/foo" for "./skills/foo/") in <paramref name="normalized"/>, or the API's message why it
    /// is not a folder inside the repository.
    /// </summary>
    public static string? SkillPathError(string? path, out string normalized)
    {
        normalized = PackagingRules.RepositoryRoot;
        if (path?.Length > MaxSkillPathLength) return $"The skill folder must be at most {MaxSkillPathLength} characters.";
        if (PackagingRules.NormalizeSkillPath(path, out var reason) is { } canonical)
        {
            normalized = canonical;
            return null;
        }
        return $"The skill folder must be a relative path inside the repository, like \"skills/foo\"; '{PackagingRules.Printable(path!)}' is not: {reason}.";
    }

    /// <summary>Git's branch name rules (git check-ref-format), enough to refuse what GitHub would never have.</summary>
    public static string? BranchError(string branch)
    {
        if (branch.Length is 0 or > 255) return "The branch name must be 1-255 characters.";
        if (branch.StartsWith('/') || branch.EndsWith('/') || branch.StartsWith('-') || branch.EndsWith('.') || branch.EndsWith(".lock")
            || branch.Contains("..") || branch.Contains("//") || branch.Contains("@{") || branch == "@"
            || branch.Any(c => char.IsControl(c) || c is ' ' or '~' or '^' or ':' or '?' or '*' or '[' or '\\'))
            return $"'{branch}' is not a valid branch name.";
        return null;
    }
}
