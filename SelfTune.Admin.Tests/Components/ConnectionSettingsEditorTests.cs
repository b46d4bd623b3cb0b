using Bunit;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Components.Pages.Connections;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Components;

/// <summary>Issue 13: the connection page edits the tag pattern with the setup form's live check against the repository's tags.</summary>
public sealed class ConnectionSettingsEditorTests(GitHubHarness h) : PageTestContext(h.App), IClassFixture<GitHubHarness>
{

    static Dictionary<string, AngleSharp.Dom.IElement> TagRows(IRenderedComponent<ContainerFragment> page) =>
        page.FindAll("[data-testid=tag-row]").ToDictionary(r => r.GetAttribute("data-tag")!);

    [Fact]
    public async Task Admin_edits_the_tag_pattern_and_sees_what_the_existing_tags_would_publish_and_a_bad_pattern_in_words()
    {
        var c = await h.ConnectedOrgAsync("tag-editor-" + Guid.NewGuid().ToString("N")[..6]);
        h.GitHub.PushTag(c.Repo, "v1.0.0", c.HeadSha);
        h.GitHub.PushTag(c.Repo, "v1.2", c.HeadSha);
        h.GitHub.PushTag(c.Repo, "release-2.0.0", c.HeadSha);
        SignInAs(c.OrgId, MemberRole.Admin);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));

        // The saved pattern v*: v1.0.0 publishes 1.0.0, v1.2 is skipped (not SemVer), release-2.0.0 does not match.
        page.WaitForAssertion(() => Assert.Equal(["v1.0.0", "v1.2"], TagRows(page).Keys.Order()), PageSeed.Slow);
        Assert.Equal("1.0.0", TagRows(page)["v1.0.0"].QuerySelector("[data-testid=tag-version]")!.TextContent.Trim());
        Assert.Contains("not SemVer", TagRows(page)["v1.2"].QuerySelector("[data-testid=tag-skip-reason]")!.TextContent);
        Assert.Contains("release-2.0.0", page.Find("[data-testid=tags-unmatched]").TextContent);

        // Typing re-checks at once, before anything is saved.
        await InputAsync(page, () => page.InputOf("tag-pattern"), "release-*");
        page.WaitForAssertion(() =>
        {
            var row = Assert.Single(page.FindAll("[data-testid=tag-row]"));
            Assert.Equal("release-2.0.0", row.GetAttribute("data-tag"));
            Assert.Equal("2.0.0", row.QuerySelector("[data-testid=tag-version]")!.TextContent.Trim());
        });

        // A broken pattern is explained in words under the field and in the preview, without the API's field name.
        await InputAsync(page, () => page.InputOf("tag-pattern"), "v[");
        page.WaitForAssertion(() =>
        {
            var message = page.Find("[data-testid=tag-pattern-error]").TextContent;
            Assert.Equal("The tag pattern 'v[' has a '[' without a closing ']'.", message.Trim());
            Assert.Contains(page.FindAll(".mud-input-error"), e => e.TextContent.Contains("The tag pattern 'v[' has a '['"));
        });
        Assert.DoesNotContain("tag_pattern", page.Find("[data-testid=settings]").TextContent);

        // A valid one saves, and the page keeps showing its preview.
        await InputAsync(page, () => page.InputOf("tag-pattern"), "release-*");
        await ClickAsync(page, () => page.Find("[data-testid=save-settings]"));
        page.WaitForAssertion(() => Assert.Contains("Settings saved.", page.Markup));
        Assert.Equal("release-*", (await App.WithDbAsync(db => db.Connections.AsNoTracking().SingleAsync(x => x.Id == c.ConnectionId))).TagPattern);
        page.WaitForAssertion(() => Assert.Equal(["release-2.0.0"], TagRows(page).Keys));
        Assert.True(page.Find("[data-testid=save-settings]").HasAttribute("disabled"));
    }

    [Fact]
    public async Task A_viewer_reads_the_pattern_and_its_preview_without_editing()
    {
        var c = await h.ConnectedOrgAsync("tag-viewer-" + Guid.NewGuid().ToString("N")[..6]);
        h.GitHub.PushTag(c.Repo, "v3.1.0", c.HeadSha);
        SignInAs(c.OrgId, MemberRole.Viewer);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.Equal("3.1.0", page.Find("[data-tag='v3.1.0'] [data-testid=tag-version]").TextContent.Trim()), PageSeed.Slow);
        Assert.True(page.InputOf("tag-pattern").HasAttribute("readonly"));
        Assert.Empty(page.FindAll("[data-testid=save-settings]"));
    }
}
