using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SelfTune.Admin.Registry.Packaging;

/// <summary>Decodes SKILL.md and reads the required name/description from its YAML front matter.</summary>
internal static class SkillMarkdownParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

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

        YamlMappingNode root;
        try
        {
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
        return (new SkillFrontMatter(name, description), text);
    }

    private static string ExtractFrontMatter(string text, string displayPath)
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

    private static string RequiredString(YamlMappingNode root, string key, string rule, string displayPath)
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
