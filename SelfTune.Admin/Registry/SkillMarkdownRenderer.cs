using System.Text.RegularExpressions;
using AngleSharp.Dom;
using Ganss.Xss;
using Markdig;

namespace SelfTune.Admin.Registry;

/// <summary>
/// SKILL.md as HTML for the registry pages. The text comes from whoever pushed the skill, so the HTML keeps only what
/// Markdown itself produces: headings, paragraphs, lists, tables, code, quotes, emphasis, links and images. Anything
/// that could pass for part of this app or collect input is dropped: forms, inputs, buttons, frames, <c>style</c>
/// elements and attributes (no fixed overlays), and classes other than a code block's <c>language-*</c> (no borrowing
/// the app's own CSS classes). Links go to http(s), mailto or a heading of the same document, carry
/// <c>rel="noopener nofollow ugc"</c> and never a target; images load from http(s) only. Ids are prefixed with
/// <c>skill-</c> so they cannot clash with the page's own. The YAML front matter is not shown (the page shows name and
/// description).
/// </summary>
public static partial class SkillMarkdownRenderer
{
    public const string LinkRel = "noopener nofollow ugc";
    const string IdPrefix = "skill-";

    static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseYamlFrontMatter().UseAdvancedExtensions().Build();
    static readonly HtmlSanitizer Sanitizer = CreateSanitizer();

    public static string ToSafeHtml(string markdown) => Sanitizer.Sanitize(Markdown.ToHtml(markdown, Pipeline));

    static HtmlSanitizer CreateSanitizer()
    {
        var sanitizer = new HtmlSanitizer(new HtmlSanitizerOptions
        {
            AllowedTags = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
            {
                "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "pre", "code", "kbd",
                "ul", "ol", "li", "dl", "dt", "dd",
                "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
                "em", "strong", "del", "s", "ins", "mark", "sub", "sup", "abbr",
                "a", "img", "figure", "figcaption", "details", "summary", "div", "span",
            },
            AllowedAttributes = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
            {
                "href", "src", "alt", "title", "id", "class", "colspan", "rowspan", "start", "open",
            },
            AllowedCssProperties = new HashSet<string>(), // no style attribute survives
            AllowedSchemes = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "http", "https", "mailto" },
            UriAttributes = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "href", "src" },
        });
        sanitizer.FilterUrl += (_, e) =>
        {
            // Relative URLs would point into this app (a GET with the admin's cookie); a skill's relative links mean files
            // in its repository, which this page does not serve.
            if (e.SanitizedUrl is { } url && !IsAllowedUrl(e.Tag.LocalName, url)) e.SanitizedUrl = null;
        };
        sanitizer.PostProcessNode += (_, e) =>
        {
            if (e.Node is not IElement element) return;
            if (element.GetAttribute("class") is { } classes)
            {
                var kept = element.LocalName == "code" ? classes.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(c => CodeLanguageClass().IsMatch(c)).ToList() : [];
                if (kept.Count == 0) element.RemoveAttribute("class");
                else element.SetAttribute("class", string.Join(' ', kept));
            }
            if (element.GetAttribute("id") is { } id) element.SetAttribute("id", IdPrefix + id);
            if (element.LocalName == "a" && element.GetAttribute("href") is { } href)
            {
                if (href.StartsWith('#')) element.SetAttribute("href", "#" + IdPrefix + href[1..]);
                else element.SetAttribute("rel", LinkRel);
            }
        };
        return sanitizer;
    }

    static bool IsAllowedUrl(string tag, string url)
    {
        if (url.StartsWith('#')) return tag == "a";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) return false;
        return uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp || (tag == "a" && uri.Scheme == Uri.UriSchemeMailto);
    }

    // Markdig writes a fenced block's info string as class="language-xyz".
    [GeneratedRegex("^language-[A-Za-z0-9_+#.-]{1,40}$", RegexOptions.CultureInvariant)]
    private static partial Regex CodeLanguageClass();
}
