using Bunit;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Components.Pages.Connections;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Components;

/// <summary>Issue 13: the connection page's "Try a ref" panel, the dry run against the fake GitHub.</summary>
public sealed class TryRefPanelTests(GitHubHarness h) : PageTestContext(h.App), IClassFixture<GitHubHarness>
{

    [Fact]
    public async Task Member_previews_the_default_branch_and_an_unknown_ref_and_nothing_is_published()
    {
        var c = await h.ConnectedOrgAsync("try-ref");
        SignInAs(c.OrgId, MemberRole.Member);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.Equal("main", page.InputOf("try-ref-input").GetAttribute("value")));

        await ClickAsync(page, () => page.Find("[data-testid=try-ref-preview]"));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=preview-result]")), PageSeed.Slow);
        var result = page.Find("[data-testid=preview-result]");
        Assert.Equal("publishes", result.GetAttribute("data-outcome"));
        Assert.Equal($"0.0.0-github.{c.HeadSha[..7]}", page.Find("[data-testid=preview-version]").TextContent);
        Assert.Contains($"would publish 0.0.0-github.{c.HeadSha[..7]}", page.Find("[data-testid=preview-message]").TextContent);
        Assert.Equal(["README.md", "SKILL.md"], page.FindAll("[data-testid=preview-file] td:first-child").Select(td => td.TextContent).ToList());
        Assert.Contains("2 files", page.Find("[data-testid=preview-size]").TextContent);
        Assert.Matches("^[0-9a-f]{64}$", page.Find("[data-testid=preview-hash]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=preview-problem]"));

        await InputAsync(page, () => page.InputOf("try-ref-input"), "no-such-ref");
        await ClickAsync(page, () => page.Find("[data-testid=try-ref-preview]"));
        page.WaitForAssertion(() => Assert.Contains(page.FindAll(".mud-input-error"),
            e => e.TextContent.Contains("has no tag, branch or commit 'no-such-ref'")), PageSeed.Slow);
        Assert.Empty(page.FindAll("[data-testid=preview-result]"));

        Assert.NotNull(page.Find("[data-testid=no-attempts]")); // a preview is not an attempt
        Assert.False(await App.WithDbAsync(db => db.Versions.AnyAsync(v => v.EntryId == c.EntryId)));
    }

    [Fact]
    public async Task Invalid_SKILL_md_shows_its_problem_on_its_file()
    {
        var c = await h.ConnectedOrgAsync("try-broken");
        h.GitHub.PushCommit(c.Repo, "broken", new Dictionary<string, byte[]>
        {
            ["SKILL.md"] = "---\ndescription: no name here\n---\n# Nameless\n"u8.ToArray(),
        });
        SignInAs(c.OrgId, MemberRole.Admin);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=try-ref-input]")));
        await InputAsync(page, () => page.InputOf("try-ref-input"), "broken");
        await ClickAsync(page, () => page.Find("[data-testid=try-ref-preview]"));
        page.WaitForAssertion(() => Assert.Equal("fails", page.Find("[data-testid=preview-result]").GetAttribute("data-outcome")), PageSeed.Slow);
        var problem = page.Find("[data-testid=preview-problem]");
        Assert.Equal("SKILL.md", problem.QuerySelector("[data-testid=preview-problem-file]")!.TextContent);
        Assert.Contains("name", problem.QuerySelector("[data-testid=preview-problem-message]")!.TextContent);
        Assert.Empty(page.FindAll("[data-testid=preview-hash]"));
    }

    [Fact]
    public async Task A_viewer_has_no_panel()
    {
        var c = await h.ConnectedOrgAsync("try-viewer");
        SignInAs(c.OrgId, MemberRole.Viewer);
        var page = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), c.ConnectionId));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=no-attempts]")));
        Assert.Empty(page.FindAll("[data-testid=try-ref]"));
    }
}
