namespace SelfTune.Admin.Registry.Packaging;

/// <summary>Size limits applied to every skill package (uploads and GitHub repacks alike).</summary>
public sealed record PackagingLimits(int MaxFiles = 1024, long MaxFileBytes = 2 * 1024 * 1024, long MaxTotalBytes = 16 * 1024 * 1024)
{
    public static PackagingLimits Default { get; } = new();
}

/// <summary>One regular file of a skill. Path is relative to the skill root (POSIX separators); Sha256 is lowercase hex.</summary>
public sealed record PackagedFile(string Path, long Size, string Sha256);

/// <summary>The required fields of SKILL.md's YAML front matter.</summary>
public sealed record SkillFrontMatter(string Name, string Description);

/// <summary>A validated skill: Files sorted ordinally by Path, SkillMarkdown is the full SKILL.md text.</summary>
public sealed record SkillPackage(IReadOnlyList<PackagedFile> Files, SkillFrontMatter Skill, string SkillMarkdown, long TotalSize);

/// <summary>
/// Thrown for every rejection. Message is a full sentence for a human that names the file (when there is one) and the rule,
/// e.g. "keys/id_rsa looks like a secret (id_rsa*); remove it from the skill folder."
/// </summary>
public sealed class PackagingException(string rule, string? filePath, string message) : Exception(message)
{
    /// <summary>Machine-readable rule id, e.g. "secret_file", "invalid_archive", "archive_too_large".</summary>
    public string Rule { get; } = rule;

    /// <summary>The offending path (skill-relative for uploads, repository-relative for GitHub repacks), or null.</summary>
    public string? FilePath { get; } = filePath;
}
