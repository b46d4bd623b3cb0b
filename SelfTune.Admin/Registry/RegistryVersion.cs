using System.Numerics;
using System.Text.RegularExpressions;
using Semver;

namespace SelfTune.Admin.Registry;

/// <summary>
/// The registry's one rule for version strings, used wherever a version is checked or ordered: strict SemVer 2.0, or
/// the commit prerelease a GitHub connection publishes, <c>0.0.0-github.&lt;sha7&gt;</c> with an optional <c>.N</c>
/// suffix (SPEC section 7).
/// </summary>
/// <remarks>
/// Why the second form: a sha7 of digits only with a leading zero (<c>0123456</c>) is not a strict SemVer identifier
/// (numeric identifiers must not start with 0), yet GitHub hands out such commits. Here that identifier is what it is,
/// a commit id, and counts as alphanumeric (compared as text). Every strict SemVer version orders exactly as SemVer 2.0
/// §11 says; the text is kept as given (never normalised), so the stored string is the published one.
/// </remarks>
public sealed partial class RegistryVersion : IComparable<RegistryVersion>
{
    public const int MaxLength = 128;

    /// <summary>The stem of a commit prerelease: <c>0.0.0-github.</c> + the first 7 characters of the commit SHA.</summary>
    public const string GitHubPrereleasePrefix = "0.0.0-github.";

    readonly BigInteger major, minor, patch;
    readonly IReadOnlyList<Identifier> prerelease;

    /// <summary>A prerelease identifier: numeric ones compare by value, the others as ordinal text.</summary>
    readonly record struct Identifier(string Text, BigInteger? Number);

    RegistryVersion(string text, BigInteger major, BigInteger minor, BigInteger patch, IReadOnlyList<Identifier> prerelease)
    {
        Text = text;
        (this.major, this.minor, this.patch, this.prerelease) = (major, minor, patch, prerelease);
    }

    /// <summary>The version exactly as published.</summary>
    public string Text { get; }

    public bool IsPrerelease => prerelease.Count > 0;

    public override string ToString() => Text;

    /// <summary>The commit prerelease of <paramref name="commitSha"/>: <c>0.0.0-github.&lt;sha7&gt;</c>.</summary>
    public static string ForCommit(string commitSha) => GitHubPrereleasePrefix + commitSha[..7];

    public static bool TryParse(string? text, out RegistryVersion version)
    {
        version = null!;
        if (string.IsNullOrEmpty(text) || text.Length > MaxLength) return false;
        if (SemVersion.TryParse(text, SemVersionStyles.Strict, out var semver))
        {
            version = new RegistryVersion(text, semver.Major, semver.Minor, semver.Patch,
                semver.PrereleaseIdentifiers.Select(i => new Identifier(i.Value, i.NumericValue)).ToList());
            return true;
        }
        if (CommitPrerelease().Match(text) is not { Success: true } commit) return false;
        List<Identifier> identifiers = [new("github", null), new(commit.Groups["sha"].Value, null)];
        if (commit.Groups["n"] is { Success: true } n) identifiers.Add(new(n.Value, BigInteger.Parse(n.Value)));
        version = new RegistryVersion(text, 0, 0, 0, identifiers);
        return true;
    }

    public static RegistryVersion Parse(string text) =>
        TryParse(text, out var version) ? version : throw new FormatException($"'{text}' is not a registry version.");

    /// <summary>Whether <paramref name="text"/> is a prerelease (anything after '-'); false for what is not a version.</summary>
    public static bool IsPrereleaseText(string? text) => TryParse(text, out var version) && version.IsPrerelease;

    /// <summary>SemVer 2.0 precedence (build metadata ignored); see the remarks for the commit identifier.</summary>
    public int CompareTo(RegistryVersion? other)
    {
        if (other is null) return 1;
        var c = major.CompareTo(other.major);
        if (c == 0) c = minor.CompareTo(other.minor);
        if (c == 0) c = patch.CompareTo(other.patch);
        if (c != 0) return c;
        // A release ranks above its prereleases.
        if (prerelease.Count == 0 || other.prerelease.Count == 0) return other.prerelease.Count.CompareTo(prerelease.Count);
        for (var i = 0; i < Math.Min(prerelease.Count, other.prerelease.Count); i++)
        {
            c = Compare(prerelease[i], other.prerelease[i]);
            if (c != 0) return c;
        }
        return prerelease.Count.CompareTo(other.prerelease.Count);
    }

    static int Compare(Identifier a, Identifier b) => (a.Number, b.Number) switch
    {
        ({ } x, { } y) => x.CompareTo(y),
        (not null, null) => -1, // numeric identifiers rank below alphanumeric ones
        (null, not null) => 1,
        _ => string.CompareOrdinal(a.Text, b.Text) switch { < 0 => -1, > 0 => 1, _ => 0 },
    };

    // Only what strict SemVer refuses needs this form: a 7-hex sha (lower case, as GitHub writes it) and a suffix.
    [GeneratedRegex(@"^0\.0\.0-github\.(?<sha>[0-9a-f]{7})(?:\.(?<n>0|[1-9][0-9]{0,8}))?$", RegexOptions.CultureInvariant)]
    private static partial Regex CommitPrerelease();
}
