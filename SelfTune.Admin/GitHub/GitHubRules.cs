namespace SelfTune.Admin.GitHub;

/// <summary>Input rules for connection fields that the seed leaves open (SPEC section 6).</summary>
public static class GitHubRules
{
    public const int MaxSkillPathLength = 1024;

    /// <summary>
    /// A relative POSIX path inside the repository; "." is the root. The path rules are the packager's (the same
    /// validator refuses archive entries), so what the API accepts is what publishing can use.
    /// </summary>
    public static string? SkillPathError(string path)
    {
        if (path.Length == 0) return "skill_path must not be empty; use \".\" for the repository root.";
        if (path.Length > MaxSkillPathLength) return $"skill_path must be at most {MaxSkillPathLength} characters.";
        if (path == ".") return null;
        return Registry.Packaging.PackagingRules.UnsafePathReason(path.TrimEnd('/')) is { } reason
            ? $"skill_path must be a relative path inside the repository, like \"skills/foo\"; '{Registry.Packaging.PackagingRules.Printable(path)}' is not: {reason}."
            : null;
    }

    /// <summary>Normalises "skills/foo/" to "skills/foo".</summary>
    public static string NormalizeSkillPath(string path) => path == "." ? path : path.TrimEnd('/');

    /// <summary>Git's branch name rules (git check-ref-format), enough to refuse what GitHub would never have.</summary>
    public static string? BranchError(string branch)
    {
        if (branch.Length is 0 or > 255) return "default_branch must be 1-255 characters.";
        if (branch.StartsWith('/') || branch.EndsWith('/') || branch.StartsWith('-') || branch.EndsWith('.') || branch.EndsWith(".lock")
            || branch.Contains("..") || branch.Contains("//") || branch.Contains("@{") || branch == "@"
            || branch.Any(c => char.IsControl(c) || c is ' ' or '~' or '^' or ':' or '?' or '*' or '[' or '\\'))
            return $"default_branch '{branch}' is not a valid branch name.";
        return null;
    }
}
