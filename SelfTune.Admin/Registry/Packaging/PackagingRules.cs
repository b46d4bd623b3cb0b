using System.Globalization;
using System.Text;

namespace SelfTune.Admin.Registry.Packaging;

/// <summary>Path, exclusion and secret rules shared by uploads and GitHub repacks.</summary>
static class PackagingRules
{
    /// <summary>The skill_path of the repository root.</summary>
    public const string RepositoryRoot = ".";

    /// <summary>
    /// The one reading of a skill_path (a folder inside a repository), for the API, the setup page and repacking alike:
    /// empty, "." and "./" are the root (<see cref="RepositoryRoot"/>); leading "./" and trailing "/" are dropped; case is
    /// kept (git paths are case-sensitive); what is left must be a safe relative path (<see cref="UnsafePathReason"/>: no
    /// leading '/', no '..', no backslash). Returns the canonical form, or null with the <paramref name="reason"/>.
    /// </summary>
    public static string? NormalizeSkillPath(string? path, out string? reason)
    {
        var p = path ?? "";
        reason = null;
        if (p.StartsWith('/'))
        {
            reason = "it is an absolute path"; // before trimming: "/" is not the root
            return null;
        }
        while (p.StartsWith("./", StringComparison.Ordinal)) p = p[2..];
        p = p.TrimEnd('/');
        if (p is "" or RepositoryRoot) return RepositoryRoot;
        reason = UnsafePathReason(p);
        return reason is null ? p : null;
    }

    /// <summary>
    /// Returns why <paramref name="path"/> could escape or confuse the skill root, or null when it is safe.
    /// Name a refused path in messages with <see cref="Printable"/>.
    /// </summary>
    public static string? UnsafePathReason(string path)
    {
        if (path.Length == 0) return "the name is empty";
        foreach (Rune r in path.EnumerateRunes())
        {
            if (r.Value == 0) return "it contains a NUL character";
            // Control characters (newlines etc.) make names ambiguous in logs, UIs and shells.
            if (Rune.IsControl(r)) return $"it contains a control character ({CodePoint(r)})";
            if (IsInvisible(r)) return $"it contains an invisible formatting character ({CodePoint(r)})";
            if (r.Value == '\\') return "it contains a backslash";
        }
        if (path[0] == '/') return "it is an absolute path";
        foreach (string segment in path.Split('/'))
        {
            if (segment == "..") return "it contains a '..' segment";
            // Non-canonical forms ("a//b", "a/./b") would let two names denote the same file.
            if (segment.Length == 0 || segment == ".") return "it contains an empty or '.' segment";
        }
        return null;
    }

    /// <summary>
    /// Format characters and line/paragraph separators: nothing visible, yet they change how a name reads. A right-to-left
    /// override (U+202E) shows "evil\u202Etxt.exe" as "evilexe.txt"; bidi marks, embeddings and isolates (U+200E/F,
    /// U+061C, U+202A-U+202E, U+2066-U+2069) and zero-width characters make two different names look the same.
    /// </summary>
    static bool IsInvisible(Rune r) =>
        Rune.GetUnicodeCategory(r) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    /// <summary>
    /// <paramref name="path"/> for a message: control and invisible characters written as \uXXXX, so the message reads
    /// the same everywhere it is shown and a bidi override cannot reorder it. (A backslash is never part of a safe path,
    /// so an escape cannot be mistaken for one.)
    /// </summary>
    public static string Printable(string path)
    {
        StringBuilder? escaped = null;
        int start = 0, index = 0;
        foreach (Rune r in path.EnumerateRunes())
        {
            if (Rune.IsControl(r) || IsInvisible(r))
            {
                escaped ??= new StringBuilder(path.Length + 16);
                escaped.Append(path, start, index - start)
                    .Append(r.IsBmp ? $"\\u{r.Value:X4}" : $"\\U{r.Value:X8}");
                start = index + r.Utf16SequenceLength;
            }
            index += r.Utf16SequenceLength;
        }
        return escaped is null ? path : escaped.Append(path, start, path.Length - start).ToString();
    }

    static string CodePoint(Rune r) => $"U+{r.Value:X4}";

    /// <summary>
    /// Describes why a path belongs to the set the CLI must leave out (.git, node_modules, .env*), or null.
    /// </summary>
    public static string? ExcludedReason(string path, bool isDirectory)
    {
        string[] segments = path.Split('/');
        for (int i = 0; i < segments.Length; i++)
        {
            if (segments[i].Equals(".git", StringComparison.OrdinalIgnoreCase)) return ".git folders";
            if (segments[i].Equals("node_modules", StringComparison.OrdinalIgnoreCase)) return "node_modules folders";
        }
        if (!isDirectory && segments[^1].StartsWith(".env", StringComparison.OrdinalIgnoreCase)) return ".env files";
        return null;
    }

    /// <summary>Returns the secret pattern the file's basename matches, or null.</summary>
    public static string? SecretPattern(string path)
    {
        string name = path[(path.LastIndexOf('/') + 1)..];
        const StringComparison ci = StringComparison.OrdinalIgnoreCase;
        if (name.EndsWith(".pem", ci)) return "*.pem";
        if (name.EndsWith(".key", ci)) return "*.key";
        if (name.StartsWith("id_rsa", ci)) return "id_rsa*";
        if (name.StartsWith("id_ed25519", ci)) return "id_ed25519*";
        if (name.StartsWith("credentials", ci) && name.EndsWith(".json", ci)) return "credentials*.json";
        if (name.Equals(".npmrc", ci)) return ".npmrc";
        return null;
    }

    /// <summary>"2 MiB" / "256 KiB" for round sizes, "20.1 MiB" for other large ones, otherwise "1,500 bytes".</summary>
    public static string FormatBytes(long bytes)
    {
        const long KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024;
        if (bytes >= GiB && bytes % GiB == 0) return $"{bytes / GiB} GiB";
        if (bytes >= MiB && bytes % MiB == 0) return $"{bytes / MiB} MiB";
        if (bytes >= KiB && bytes % KiB == 0 && bytes < MiB) return $"{bytes / KiB} KiB";
        if (bytes >= MiB) return ((double)bytes / MiB).ToString("0.#", CultureInfo.InvariantCulture) + " MiB";
        return $"{N(bytes)} bytes";
    }

    /// <summary>Culture-invariant thousands-separated number, so messages do not depend on the server locale.</summary>
    public static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
