namespace SelfTune.Admin.Registry.Packaging;

/// <summary>Size limits applied to every skill package (uploads and GitHub repacks alike).</summary>
public sealed record PackagingLimits(int MaxFiles = 1024, long MaxFileBytes = 2 * 1024 * 1024, long MaxTotalBytes = 16 * 1024 * 1024)
{
    public static PackagingLimits Default { get; } = new();
}

/// <summary>One regular file of a skill. Path is relative to the skill root (POSIX separators); Sha256 is lowercase hex.</summary>
public sealed record PackagedFile(string Path, long Size, string Sha256);

/// <summary>
/// What the registry reads from SKILL.md's YAML front matter: the required name and description, and the optional
/// <c>metadata</c> map (empty when absent; scalar values are kept as written, so <c>version: 1.0</c> is "1.0").
/// </summary>
public sealed record SkillFrontMatter(string Name, string Description)
{
    internal static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Metadata { get; init; } = NoMetadata;

    // Compared by content, so two parses of the same SKILL.md are equal.
    public bool Equals(SkillFrontMatter? other) =>
        other is not null && Name == other.Name && Description == other.Description &&
        Metadata.Count == other.Metadata.Count &&
        Metadata.All(kv => other.Metadata.TryGetValue(kv.Key, out string? v) && v == kv.Value);

    public override int GetHashCode() => HashCode.Combine(Name, Description, Metadata.Count);
}

/// <summary>
/// A validated skill: Files sorted ordinally by Path, SkillMarkdown is the full SKILL.md text. Warnings are what the
/// Agent Skills specification asks for but the registry does not refuse (unknown front-matter keys, a name that
/// differs from its folder); see <see cref="WarningsFor"/> for the entry it is published to.
/// </summary>
public sealed record SkillPackage(IReadOnlyList<PackagedFile> Files, SkillFrontMatter Skill, string SkillMarkdown, long TotalSize)
{
    public IReadOnlyList<PackagingWarning> Warnings { get; init; } = [];

    /// <summary>How SKILL.md is named in messages ("SKILL.md", or "skills/foo/SKILL.md" for repacks).</summary>
    public string SkillMarkdownPath { get; init; } = "SKILL.md";

    /// <summary><see cref="Warnings"/>, plus one when SKILL.md's name differs from the registry entry it is published to.</summary>
    public IReadOnlyList<PackagingWarning> WarningsFor(string entryName) => Skill.Name == entryName
        ? Warnings
        : [.. Warnings, new PackagingWarning("skill_name_differs_from_entry", SkillMarkdownPath,
            $"{SkillMarkdownPath} names the skill \"{Skill.Name}\" but the registry entry is \"{entryName}\"; agents will know it as \"{Skill.Name}\".")];
}

/// <summary>
/// Something the Agent Skills specification asks for that the registry accepts anyway (real skills carry extra keys).
/// Message is a sentence naming the file and the rule, like <see cref="PackagingException"/>'s.
/// </summary>
public sealed record PackagingWarning(string Rule, string? FilePath, string Message)
{
    /// <summary>The warnings as one line to append to a publish attempt's message ("" when there are none).</summary>
    public static string Describe(IReadOnlyList<PackagingWarning> warnings) =>
        warnings.Count == 0 ? "" : " Warnings: " + string.Join(" ", warnings.Select(w => w.Message));
}

/// <summary>
/// One thing the validator refuses. Message is a full sentence that names the file (when there is one) and the rule;
/// Line is the line of that file the problem is on, when the validator knows it (YAML errors in SKILL.md).
/// </summary>
public sealed record PackagingProblem(string Rule, string? FilePath, string Message)
{
    public int? Line { get; init; }
}

/// <summary>
/// Thrown for every rejection. Message is a full sentence for a human that names the file (when there is one) and the rule,
/// e.g. "keys/id_rsa looks like a secret (id_rsa*); remove it from the skill folder."; when the validator found several
/// problems (it reads on past a file it refuses, so one push shows them all) it starts "3 problems:" and lists the first few.
/// </summary>
public sealed class PackagingException : Exception
{
    /// <summary>Shown in <see cref="Exception.Message"/> when there are several; all of them are in <see cref="Problems"/>.</summary>
    const int ProblemsInMessage = 3;

    public PackagingException(string rule, string? filePath, string message, int? line = null)
        : this([new PackagingProblem(rule, filePath, message) { Line = line }]) { }

    public PackagingException(IReadOnlyList<PackagingProblem> problems) : base(Describe(problems)) => Problems = problems;

    /// <summary>Every problem found, in the order the files were read (at least one).</summary>
    public IReadOnlyList<PackagingProblem> Problems { get; }

    /// <summary>The API's answer to a refused skill: 422 <c>invalid_skill</c>, every problem under <c>archive</c>.</summary>
    public ProblemException ToProblem() =>
        new(422, "invalid_skill", Message, new Dictionary<string, string[]> { ["archive"] = [.. Problems.Select(p => p.Message)] });

    /// <summary>What the specification asks for but the registry accepts, when SKILL.md could be read despite the problems.</summary>
    public IReadOnlyList<PackagingWarning> Warnings { get; init; } = [];

    /// <summary>Machine-readable rule id of the first problem, e.g. "secret_file", "invalid_archive", "archive_too_large".</summary>
    public string Rule => Problems[0].Rule;

    /// <summary>The first problem's path (skill-relative for uploads, repository-relative for GitHub repacks), or null.</summary>
    public string? FilePath => Problems[0].FilePath;

    static string Describe(IReadOnlyList<PackagingProblem> problems)
    {
        if (problems.Count == 0) throw new ArgumentException("A refusal needs at least one problem.", nameof(problems));
        if (problems.Count == 1) return problems[0].Message;
        var shown = string.Join(" ", problems.Take(ProblemsInMessage).Select(p => p.Message));
        var more = problems.Count - ProblemsInMessage;
        return $"{problems.Count} problems: {shown}" + (more > 0 ? $" …and {more} more." : "");
    }
}
