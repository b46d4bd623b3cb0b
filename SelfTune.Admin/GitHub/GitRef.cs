using System.Diagnostics.CodeAnalysis;

namespace SelfTune.Admin.GitHub;

/// <summary>
/// What a git ref string is. A full commit SHA is 40 hex digits, upper or lower case (GitHub answers in lower case; a
/// person may paste either); <see cref="TryGetSha"/> gives it in lower case, the form stored and compared everywhere.
/// </summary>
public static class GitRef
{
    public const int ShaLength = 40;
    public const string TagPrefix = "refs/tags/";
    public const string BranchPrefix = "refs/heads/";

    /// <summary>True for a full commit SHA: exactly 40 hex digits, either case.</summary>
    public static bool IsSha([NotNullWhen(true)] string? value) => value is { Length: ShaLength } && value.All(char.IsAsciiHexDigit);

    /// <summary>The full commit SHA <paramref name="value"/> names, in lower case; false when it is not one.</summary>
    public static bool TryGetSha([NotNullWhen(true)] string? value, [NotNullWhen(true)] out string? sha)
    {
        sha = IsSha(value) ? value.ToLowerInvariant() : null;
        return sha is not null;
    }

    /// <summary>True when an attempt's source ref names a tag: a tag trigger, or any ref that is not a full SHA.</summary>
    public static bool IsTag(string? sourceRef, bool tagTrigger = false) => tagTrigger || (sourceRef is not null && !IsSha(sourceRef));

    /// <summary>The fully qualified ref of a tag name (the form that makes GitHub peel an annotated tag to its commit).</summary>
    public static string ForTag(string tag) => TagPrefix + tag;

    /// <summary>The short form shown to people: a SHA's first 7 digits, anything else as it is.</summary>
    public static string Short(string value) => IsSha(value) ? value[..7].ToLowerInvariant() : value;
}
