using System.Text;
using System.Text.RegularExpressions;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// A connection's <c>tag_pattern</c> (its refusals say "the tag pattern", for the pages that show them): a glob over the whole tag name (<c>*</c> any run, <c>?</c> one character,
/// <c>[...]</c> a class, <c>[!...]</c> a negated class). The release version of a matching tag is the tag minus the
/// literal prefix before the first wildcard: <c>v*</c> + <c>v1.2.0</c> → <c>1.2.0</c>.
/// </summary>
public sealed class TagPattern
{
    public const int MaxLength = 200;
    readonly Regex regex;

    public string Pattern { get; }
    public string LiteralPrefix { get; }

    TagPattern(string pattern, Regex regex, string literalPrefix)
    {
        Pattern = pattern;
        this.regex = regex;
        LiteralPrefix = literalPrefix;
    }

    public static bool TryParse(string? pattern, out TagPattern? result, out string? error)
    {
        result = null;
        error = null;
        if (string.IsNullOrEmpty(pattern)) { error = "The tag pattern must not be empty."; return false; }
        if (pattern.Length > MaxLength) { error = $"The tag pattern must be at most {MaxLength} characters."; return false; }
        if (pattern.Any(c => char.IsControl(c) || c == ' ')) { error = "The tag pattern must not contain spaces or control characters."; return false; }

        var sb = new StringBuilder("^");
        int? firstWildcard = null;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*': firstWildcard ??= i; sb.Append(".*"); break;
                case '?': firstWildcard ??= i; sb.Append('.'); break;
                case '[':
                    // "[]...]" keeps a literal ']' first, as in shells; a '[' at (or next to) the end has no room for a class.
                    var close = i + 2 < pattern.Length ? pattern.IndexOf(']', i + 2) : -1;
                    if (close < 0) { error = $"The tag pattern '{pattern}' has a '[' without a closing ']'."; return false; }
                    firstWildcard ??= i;
                    var body = pattern[(i + 1)..close];
                    var negate = body.StartsWith('!') || body.StartsWith('^');
                    if (negate) body = body[1..];
                    if (body.Length == 0) { error = $"The tag pattern '{pattern}' has an empty character class '[]'."; return false; }
                    sb.Append('[').Append(negate ? "^" : "").Append(body.Replace("\\", "\\\\").Replace("[", "\\[")).Append(']');
                    i = close;
                    break;
                case ']': error = $"The tag pattern '{pattern}' has a ']' without an opening '['."; return false;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        sb.Append('$');
        try
        {
            var regex = new Regex(sb.ToString(), RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            result = new TagPattern(pattern, regex, pattern[..(firstWildcard ?? pattern.Length)]);
            return true;
        }
        catch (ArgumentException e)
        {
            error = $"The tag pattern '{pattern}' is not a pattern SelfTune can read: {e.Message}";
            return false;
        }
    }

    public static TagPattern Parse(string pattern) =>
        TryParse(pattern, out var result, out var error) ? result! : throw new ArgumentException(error, nameof(pattern));

    public bool IsMatch(string tag)
    {
        try { return regex.IsMatch(tag); }
        catch (RegexMatchTimeoutException) { return false; }
    }

    /// <summary>The release version a matching tag publishes, or why it cannot publish one.</summary>
    public bool TryGetVersion(string tag, out string version, out string? reason)
    {
        version = tag.StartsWith(LiteralPrefix, StringComparison.Ordinal) ? tag[LiteralPrefix.Length..] : tag;
        reason = null;
        if (!IsMatch(tag)) { reason = $"tag {tag} does not match the tag pattern {Pattern}"; return false; }
        if (!RegistryVersion.TryParse(version, out _))
        {
            reason = $"tag {tag} gives version '{version}' (the tag without the pattern's prefix '{LiteralPrefix}'), which is not SemVer 2.0 (MAJOR.MINOR.PATCH, e.g. 1.2.0)";
            return false;
        }
        return true;
    }
}
