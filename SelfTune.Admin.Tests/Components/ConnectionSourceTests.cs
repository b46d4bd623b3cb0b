using Bunit;
using SelfTune.Admin.Components.Pages.Connections;
using SelfTune.Admin.Components.Pages.Overview;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// Issue 15: a connection's source is a repository and a skill path inside it, shown as two things
/// (<c>acme-gh/skills</c> · <c>skills/demo</c>) on the overview, the connections list and the connection's header, never
/// run together as <c>acme-gh/skills/skills/demo</c>.
/// </summary>
public sealed class ConnectionSourceTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{

    async Task<GitHubConnection> ConnectionInSubfolderAsync(Guid orgId)
    {
        var installation = await App.InstallationAsync(orgId, "acme-gh");
        var connection = await App.ConnectionAsync(orgId, "demo", "acme-gh/skills", installation.InstallationId);
        await App.WithDbAsync(async db =>
        {
            db.Connections.Single(c => c.Id == connection.Id).SkillPath = "skills/demo";
            return await db.SaveChangesAsync();
        });
        await App.AttemptAsync(connection, AttemptStatus.Published, "0.0.0-github.0123456");
        return connection;
    }

    static void AssertTwoThings(IRenderedComponent<ContainerFragment> page)
    {
        var source = page.Find("[data-testid=connection-source]");
        Assert.Equal("acme-gh/skills", source.QuerySelector("[data-testid=repo-link], [data-testid=repo]")!.TextContent.Trim());
        Assert.Equal("skills/demo", source.QuerySelector("[data-testid=source-skill-path]")!.TextContent.Trim());
        Assert.DoesNotContain("acme-gh/skills/skills/demo", page.Markup);
        Assert.DoesNotContain("/skills/demo", source.TextContent);
    }

    [Fact]
    public async Task Overview_shows_repository_and_skill_path_apart_and_marks_the_prerelease()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await ConnectionInSubfolderAsync(orgId);
        SignInAs(orgId);
        var page = RenderPage<Overview>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=connection-row]")));
        AssertTwoThings(page);
        var row = page.Find("[data-testid=connection-row]");
        Assert.Equal("0.0.0-github.0123456", row.QuerySelector("[data-testid=last-version]")!.TextContent.Trim());
        Assert.NotNull(row.QuerySelector("[data-testid=prerelease]"));
    }

    [Fact]
    public async Task Connections_list_and_header_show_repository_and_skill_path_apart()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var connection = await ConnectionInSubfolderAsync(orgId);
        SignInAs(orgId, MemberRole.Viewer);

        var list = RenderPage<Connections>();
        list.WaitForAssertion(() => Assert.Single(list.FindAll("[data-testid=connection-link]")));
        AssertTwoThings(list);
        Assert.Equal("https://github.com/acme-gh/skills", list.Find("[data-testid=repo-link]").GetAttribute("href"));

        await DisposeComponentsAsync();
        var detail = RenderPage<ConnectionDetail>((nameof(ConnectionDetail.Id), connection.Id));
        detail.WaitForAssertion(() => Assert.NotNull(detail.Find("[data-testid=connection-title]")));
        AssertTwoThings(detail);
    }
}
