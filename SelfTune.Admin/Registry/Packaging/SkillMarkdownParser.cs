using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;
using static SelfTune.Admin.Registry.Packaging.PackagingRules;

namespace SelfTune.Admin.Registry.Packaging;

/// <summary>
/// Decodes SKILL.md and checks its YAML front matter against the Agent Skills specification
/// (../shared/agentskills/specification.mdx): refuses what the specification forbids, warns about keys it does not define.
/// </summary>
static class SkillMarkdownParser
{
    // Front matter holds a name, a description and a few short fields; these bounds are far above that and keep
    // hostile YAML from costing more than a few milliseconds (see CheckBounds).
    internal const int MaxFrontMatterBytes = 64 * 1024;
    internal const int MaxDepth = 32;
    internal const int MaxNodes = 10_000;

    // Agent Skills specification: name 1-64 characters, description 1-1024 (counted in Unicode code points).
    internal const int MaxNameLength = 64;
    internal const int MaxDescriptionLength = 1024;
    internal const int MaxCompatibilityLength = 500;

    /// <summary>The top-level keys the specification defines; any other key is a warning, not a refusal.</summary>
    static readonly string[] SpecificationKeys = ["name", "description", "license", "compatibility", "metadata", "allowed-tools"];

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <param name="displayPath">How SKILL.md is named in messages (e.g. "skills/foo/SKILL.md" for repacks).</param>
    public static (SkillFrontMatter FrontMatter, string Text, IReadOnlyList<PackagingWarning> Warnings) Parse(byte[] bytes, string displayPath)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new PackagingException("skill_md_not_utf8", displayPath, $"{displayPath} is not valid UTF-8 text; save it as UTF-8.");
        }
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];

        string yaml = ExtractFrontMatter(text, displayPath);
        int yamlBytes = Encoding.UTF8.GetByteCount(yaml);
        if (yamlBytes > MaxFrontMatterBytes)
            throw new PackagingException("skill_md_front_matter_too_large", displayPath,
                $"{displayPath} front matter is {N(yamlBytes)} bytes, over the {FormatBytes(MaxFrontMatterBytes)} limit; " +
                "keep it to 'name', 'description' and a few short fields.");

        YamlMappingNode root;
        try
        {
            CheckBounds(yaml, displayPath);
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
                throw new PackagingException("skill_md_missing_name", displayPath,
                    $"{displayPath} front matter is empty; it needs a non-empty 'name' and 'description'.");
            root = stream.Documents[0].RootNode as YamlMappingNode
                ?? throw new PackagingException("skill_md_invalid_yaml", displayPath,
                    $"{displayPath} front matter must be a YAML mapping of 'key: value' lines with 'name' and 'description'.");
        }
        catch (YamlException ex)
        {
            throw new PackagingException("skill_md_invalid_yaml", displayPath,
                $"{displayPath} front matter is not valid YAML (line {ex.Start.Line + 1}, column {ex.Start.Column}: {ex.Message.TrimEnd('.')}).",
                line: (int)Math.Min(ex.Start.Line + 1, int.MaxValue));
        }
        catch (ArgumentException ex) // YamlDotNet reports duplicate mapping keys this way
        {
            throw new PackagingException("skill_md_invalid_yaml", displayPath, $"{displayPath} front matter is not valid YAML ({ex.Message.TrimEnd('.')}).");
        }
        catch (InvalidOperationException) // YamlDotNet's parser throws this for some unterminated flow collections
        {
            throw new PackagingException("skill_md_invalid_yaml", displayPath,
                $"{displayPath} front matter is not valid YAML; check its brackets, quotes and indentation.");
        }

        string name = RequiredString(root, "name", "skill_md_missing_name", displayPath);
        string description = RequiredString(root, "description", "skill_md_missing_description", displayPath);
        CheckLength(name, "name", MaxNameLength, "skill_md_name_too_long", displayPath);
        CheckName(name, displayPath);
        CheckLength(description, "description", MaxDescriptionLength, "skill_md_description_too_long", displayPath);
        if (root.Children.ContainsKey(new YamlScalarNode("compatibility")))
            CheckLength(RequiredString(root, "compatibility", "skill_md_invalid_compatibility", displayPath),
                "compatibility", MaxCompatibilityLength, "skill_md_compatibility_too_long", displayPath);
        CheckAllowedTools(root, displayPath);
        var metadata = ReadMetadata(root, displayPath);
        return (new SkillFrontMatter(name, description) { Metadata = metadata }, text, UnknownKeys(root, displayPath));
    }

    /// <summary>
    /// The specification's name: lowercase ASCII letters, digits and single hyphens, not at either end. Unicode letters,
    /// which the reference validator accepts, are refused: the specification text says a-z, and the name is typed in
    /// the CLI and shown in URLs, where "é" and "e\u0301" would be two names that look the same.
    /// </summary>
    static void CheckName(string name, string displayPath)
    {
        string shown = $"{displayPath} front matter 'name' \"{Printable(name)}\"";
        foreach (Rune r in name.EnumerateRunes())
        {
            if (r.Value is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-') continue;
            throw new PackagingException("skill_md_invalid_name", displayPath, Rune.IsUpper(r)
                ? $"{shown} must be lowercase; use only the letters a-z, digits 0-9 and hyphens (Agent Skills specification)."
                : $"{shown} contains '{Printable(r.ToString())}'; use only the letters a-z, digits 0-9 and hyphens (Agent Skills specification).");
        }
        if (name.StartsWith('-') || name.EndsWith('-'))
            throw new PackagingException("skill_md_invalid_name", displayPath, $"{shown} must not start or end with a hyphen (Agent Skills specification).");
        if (name.Contains("--", StringComparison.Ordinal))
            throw new PackagingException("skill_md_invalid_name", displayPath, $"{shown} must not contain two hyphens in a row (Agent Skills specification).");
    }

    /// <summary>The specification's allowed-tools is one space-separated string ("Bash(git:*) Read"), not a YAML list.</summary>
    static void CheckAllowedTools(YamlMappingNode root, string displayPath)
    {
        if (root.Children.TryGetValue(new YamlScalarNode("allowed-tools"), out YamlNode? node) && node is not YamlScalarNode)
            throw new PackagingException("skill_md_invalid_allowed_tools", displayPath,
                $"{displayPath} front matter 'allowed-tools' must be one space-separated string of tools, e.g. 'allowed-tools: Bash(git:*) Read', not a list.");
    }

    /// <summary>The specification's metadata: a mapping from string keys to string values (scalars are kept as written).</summary>
    static IReadOnlyDictionary<string, string> ReadMetadata(YamlMappingNode root, string displayPath)
    {
        if (!root.Children.TryGetValue(new YamlScalarNode("metadata"), out YamlNode? node))
            return SkillFrontMatter.NoMetadata;
        const string rule = "skill_md_invalid_metadata";
        if (node is not YamlMappingNode map)
            throw new PackagingException(rule, displayPath,
                $"{displayPath} front matter 'metadata' must be a mapping of 'key: value' lines with text values.");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((YamlNode key, YamlNode value) in map.Children)
        {
            if (key is not YamlScalarNode { Value: { Length: > 0 } k })
                throw new PackagingException(rule, displayPath, $"{displayPath} front matter 'metadata' keys must be plain text.");
            if (value is not YamlScalarNode { Value: { } v } || IsYamlNull((YamlScalarNode)value))
                throw new PackagingException(rule, displayPath,
                    $"{displayPath} front matter 'metadata' value of '{Printable(k)}' must be text, not a list, a mapping or empty.");
            metadata[k] = v;
        }
        return metadata;
    }

    /// <summary>Keys the specification does not define: kept in SKILL.md and reported, since real skills carry extra keys.</summary>
    static IReadOnlyList<PackagingWarning> UnknownKeys(YamlMappingNode root, string displayPath)
    {
        var unknown = root.Children.Keys
            .Select(k => k is YamlScalarNode { Value: { } v } ? v : k.ToString())
            .Where(k => !SpecificationKeys.Contains(k, StringComparer.Ordinal))
            .Select(k => $"'{Printable(k)}'").ToList();
        return unknown.Count == 0 ? [] :
        [
            new PackagingWarning("skill_md_unknown_keys", displayPath,
                $"{displayPath} front matter has {(unknown.Count == 1 ? "a key" : "keys")} the Agent Skills specification does not define " +
                $"({string.Join(", ", unknown)}); the registry keeps {(unknown.Count == 1 ? "it" : "them")} in SKILL.md but does not read {(unknown.Count == 1 ? "it" : "them")}."),
        ];
    }

    static bool IsYamlNull(YamlScalarNode scalar) =>
        scalar.Value is null || scalar.Style == ScalarStyle.Plain && scalar.Value is "" or "~" or "null" or "Null" or "NULL";

    /// <summary>
    /// A first pass over the YAML events, before any tree is built. YamlStream.Load recurses once per nesting level, so
    /// deep input ("[[[[...") overflows the stack, and a StackOverflowException ends the process: it cannot be caught.
    /// The event parser keeps its own stack (no recursion), but its cost grows with the square of the depth, so the
    /// pass stops at the first event over a bound instead of reading on. Anchors and aliases are refused outright:
    /// front matter has no use for them, and aliases are how YAML "billion laughs" documents multiply their size.
    /// </summary>
    static void CheckBounds(string yaml, string displayPath)
    {
        var parser = new Parser(new StringReader(yaml));
        int depth = 0, nodes = 0;
        while (parser.MoveNext())
        {
            ParsingEvent e = parser.Current!;
            long line = e.Start.Line + 1; // in SKILL.md, after the opening '---' line
            if (e is AnchorAlias || e is NodeEvent { Anchor.IsEmpty: false })
                throw new PackagingException("skill_md_yaml_anchor", displayPath,
                    $"{displayPath} front matter uses a YAML anchor or alias (line {line}); write each value out in full.", (int)line);
            if (e is NodeEvent && ++nodes > MaxNodes)
                throw new PackagingException("skill_md_too_many_nodes", displayPath,
                    $"{displayPath} front matter has more than {N(MaxNodes)} YAML values (line {line}); keep it to a few short fields.", (int)line);
            if (e is MappingStart or SequenceStart && ++depth > MaxDepth)
                throw new PackagingException("skill_md_nesting_too_deep", displayPath,
                    $"{displayPath} front matter nests lists or mappings more than {MaxDepth} levels deep (line {line}); keep it to a few short fields.", (int)line);
            if (e is MappingEnd or SequenceEnd) depth--;
        }
    }

    static void CheckLength(string value, string key, int max, string rule, string displayPath)
    {
        int length = value.EnumerateRunes().Count();
        if (length > max)
            throw new PackagingException(rule, displayPath,
                $"{displayPath} front matter '{key}' is {N(length)} characters long; the Agent Skills specification allows at most {N(max)}.");
    }

    static string ExtractFrontMatter(string text, string displayPath)
    {
        using var reader = new StringReader(text);
        string? first = reader.ReadLine();
        if (first is null || first.TrimEnd() != "---")
            throw new PackagingException("skill_md_no_front_matter", displayPath,
                $"{displayPath} must start with YAML front matter: a '---' line, YAML with 'name' and 'description', then another '---' line.");

        var yaml = new StringBuilder();
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            if (line.TrimEnd() == "---") return yaml.ToString();
            yaml.Append(line).Append('\n');
        }
        throw new PackagingException("skill_md_no_front_matter", displayPath,
            $"{displayPath} front matter is not closed; add a '---' line after the YAML.");
    }

    static string RequiredString(YamlMappingNode root, string key, string rule, string displayPath)
    {
        if (!root.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? node))
            throw new PackagingException(rule, displayPath, $"{displayPath} front matter has no '{key}'; add a non-empty '{key}:' line.");

        // A plain ~ / null / empty scalar is YAML null, not a string.
        if (node is not YamlScalarNode scalar || string.IsNullOrWhiteSpace(scalar.Value) || IsYamlNull(scalar))
            throw new PackagingException(rule, displayPath, $"{displayPath} front matter '{key}' must be a non-empty string.");

        return scalar.Value.Trim();
    }
}
