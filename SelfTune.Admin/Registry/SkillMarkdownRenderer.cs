using Ganss.Xss;
using Markdig;

namespace SelfTune.Admin.Registry;

/// <summary>
/// SKILL.md as HTML for the registry pages. The text comes from whoever pushed the skill, so the HTML is sanitised:
/// no scripts, no event handlers, no javascript: links. The YAML front matter is not shown (the page shows name and description).
/// </summary>
public static class SkillMarkdownRenderer
{
    static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseYamlFrontMatter().UseAdvancedExtensions().Build();
    static readonly HtmlSanitizer Sanitizer = new();

    public static string ToSafeHtml(string markdown) => Sanitizer.Sanitize(Markdown.ToHtml(markdown, Pipeline));
}
