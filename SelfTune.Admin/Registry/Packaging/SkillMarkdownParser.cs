using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;
using static SelfTune.Admin.Registry.Packaging.PackagingRules;

namespace SelfTune.Admin.Registry.Packaging;

/// <summary>Decodes SKILL.md and reads the required name/description from its YAML front matter.</summary>
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

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <param name="displayPath">How SKILL.md is named in messages (e.g. "skills/foo/SKILL.md" for repacks).</param>
    public static (SkillFrontMatter FrontMatter, string Text) Parse(byte[] bytes, string displayPath)
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
                $"{displayPath} front matter is not valid YAML (line {ex.Start.Line + 1}, column {ex.Start.Column}: {ex.Message.TrimEnd('.')}).");
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
        CheckLength(description, "description", MaxDescriptionLength, "skill_md_description_too_long", displayPath);
        return (new SkillFrontMatter(name, description), text);
    }

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
                    $"{displayPath} front matter uses a YAML anchor or alias (line {line}); write each value out in full.");
            if (e is NodeEvent && ++nodes > MaxNodes)
                throw new PackagingException("skill_md_too_many_nodes", displayPath,
                    $"{displayPath} front matter has more than {N(MaxNodes)} YAML values (line {line}); keep it to a few short fields.");
            if (e is MappingStart or SequenceStart && ++depth > MaxDepth)
                throw new PackagingException("skill_md_nesting_too_deep", displayPath,
                    $"{displayPath} front matter nests lists or mappings more than {MaxDepth} levels deep (line {line}); keep it to a few short fields.");
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
        if (node is not YamlScalarNode scalar || string.IsNullOrWhiteSpace(scalar.Value) ||
            (scalar.Style == ScalarStyle.Plain && scalar.Value is "~" or "null" or "Null" or "NULL"))
            throw new PackagingException(rule, displayPath, $"{displayPath} front matter '{key}' must be a non-empty string.");

        return scalar.Value.Trim();
    }
}
