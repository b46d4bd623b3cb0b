using Bunit;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Components.Pages.Connections;
using SelfTune.Admin.Components.Pages.Overview;
using SelfTune.Admin.Components.Pages.Registry;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// Issue 12: pages of an org with many connections and entries render one page of rows and the total (counted by the
/// database), and a live change re-reads only the row it names.
/// </summary>
public sealed class PagedListPagesTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{

    /// <summary><paramref name="count"/> connections (each with its entry), created one second apart in name order.</summary>
    Task<List<GitHubConnection>> AddConnectionsAsync(Guid orgId, long installationId, int count, string prefix = "skill") => App.WithDbAsync(async db =>
    {
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var rows = new List<GitHubConnection>();
        for (var i = 0; i < count; i++)
        {
            var at = start.AddSeconds(i);
            var entry = new RegistryEntry { OrgId = orgId, Name = $"{prefix}-{i:D3}", Description = i % 2 == 0 ? "even one" : "odd one", CreatedAt = at, UpdatedAt = at };
            var connection = new GitHubConnection
            {
                OrgId = orgId, EntryId = entry.Id, InstallationId = installationId, RepoId = PageSeed.NewGitHubId(),
                RepoOwner = "acme-gh", RepoName = entry.Name, CreatedAt = at, UpdatedAt = at,
            };
            db.Entries.Add(entry);
            db.Connections.Add(connection);
            rows.Add(connection);
        }
        await db.SaveChangesAsync();
        return rows;
    });

    /// <summary>A new org's Connections page, signed in as a viewer, showing its three connections.</summary>
    async Task<(IRenderedComponent<ContainerFragment> Page, List<GitHubConnection> Connections, long InstallationId)> OpenConnectionsPageOfThreeAsync()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connections = await AddConnectionsAsync(orgId, installation.InstallationId, 3);
        SignInAs(orgId, MemberRole.Viewer);
        var page = RenderPage<Connections>();
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=connection-link]").Count));
        return (page, connections, installation.InstallationId);
    }

    [Fact]
    public async Task Connections_page_shows_one_page_of_rows_and_the_total_and_pages_to_the_rest()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connections = await AddConnectionsAsync(orgId, installation.InstallationId, Connections.PageSize + 5);
        SignInAs(orgId, MemberRole.Viewer);

        var page = RenderPage<Connections>();

        page.WaitForAssertion(() => Assert.Equal(Connections.PageSize, page.FindAll("[data-testid=connection-link]").Count));
        Assert.Equal("55 connections", page.Find("[data-testid=total]").TextContent.Trim());
        Assert.Equal(connections.Take(Connections.PageSize).Select(c => $"/connections/{c.Id}"),
            page.FindAll("[data-testid=connection-link]").Select(l => l.GetAttribute("href")));

        await ClickAsync(page, () => page.FindAll("[data-testid=pager] button").Single(b => b.TextContent.Trim() == "2"));
        page.WaitForAssertion(() => Assert.Equal(["skill-050", "skill-051", "skill-052", "skill-053", "skill-054"],
            page.FindAll("[data-testid=connection-link]").Select(l => l.TextContent.Trim())));
    }

    [Fact]
    public async Task A_live_attempt_re_reads_its_own_row_only()
    {
        var (page, connections, _) = await OpenConnectionsPageOfThreeAsync();
        Assert.Empty(page.FindAll("[data-testid=paused]"));

        // Another row changes in the database without news of it; then an attempt of the first row is announced.
        await App.WithDbAsync(db => db.Connections.Where(c => c.Id == connections[2].Id)
            .ExecuteUpdateAsync(u => u.SetProperty(c => c.PausedReason, "changed unannounced")));
        var otherRows = page.FindComponents<MudBlazor.MudTr>().Skip(1).ToList(); // the header's row first
        var otherRowRenders = otherRows.Select(r => r.RenderCount).ToList();
        var ownCells = page.FindComponents<MudBlazor.MudTd>().Take(6).ToList(); // the first row's cells before its last attempt
        var ownCellRenders = ownCells.Select(c => c.RenderCount).ToList();
        await App.AttemptAsync(connections[0], AttemptStatus.Published, "1.0.0");

        page.WaitForAssertion(() => Assert.Equal("published", page.Find("[data-testid=attempt-status]").GetAttribute("data-status")));
        Assert.Contains("1.0.0", page.Find("[data-testid=last-version]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=paused]")); // the other row was not read again
        // The row showed itself: the table did not render its rows again (a table's render renders every row).
        Assert.Equal(otherRowRenders, otherRows.Select(r => r.RenderCount).ToList());
        // Only its last attempt changed: the cell that shows it rendered, the row's other cells did not.
        Assert.Equal(ownCellRenders, ownCells.Select(c => c.RenderCount).ToList());
    }

    [Fact]
    public async Task A_check_run_delivery_re_reads_no_row_and_a_repository_delivery_re_reads_the_rows_of_its_repository()
    {
        var (page, connections, installationId) = await OpenConnectionsPageOfThreeAsync();
        var feed = App.Services.GetRequiredService<IChangeFeed>();
        WebhookDelivery Delivery(string eventName, string action) => new()
        {
            DeliveryId = Guid.NewGuid().ToString(), Event = eventName, Action = action, InstallationId = installationId,
            RepositoryId = connections[0].RepoId, Payload = "{}", Outcome = DeliveryOutcome.Processed,
        };

        // The first row changes without news of it; then the check_run its write-back brings back is announced, and after
        // it an attempt of the second row (the page handles news in order: once that attempt shows, the check_run was handled).
        await App.WithDbAsync(db => db.Connections.Where(c => c.Id == connections[0].Id)
            .ExecuteUpdateAsync(u => u.SetProperty(c => c.PausedReason, "changed unannounced")));
        feed.Publish(Change.OfDelivery(Delivery("check_run", "completed")));
        await App.AttemptAsync(connections[1], AttemptStatus.Published, "1.0.0");
        page.WaitForAssertion(() => Assert.Equal("published", page.Find("[data-testid=attempt-status]").GetAttribute("data-status")));
        Assert.Empty(page.FindAll("[data-testid=paused]")); // the check_run re-read no row

        // A delivery that can change the connection (a rename, a removal from the installation) re-reads its row.
        feed.Publish(Change.OfDelivery(Delivery("repository", "renamed")));
        page.WaitForAssertion(() => Assert.Contains("changed unannounced", page.Find("[data-testid=paused]").TextContent));
    }

    [Fact]
    public async Task Overview_counts_every_connection_but_lists_only_the_newest_few()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connections = await AddConnectionsAsync(orgId, installation.InstallationId, Overview.Shown + 2);
        SignInAs(orgId, MemberRole.Viewer);

        var page = RenderPage<Overview>();

        page.WaitForAssertion(() => Assert.Equal(Overview.Shown, page.FindAll("[data-testid=connection-row]").Count));
        Assert.Equal(connections.AsEnumerable().Reverse().Take(Overview.Shown).Select(c => c.Id.ToString()),
            page.FindAll("[data-testid=connection-row]").Select(r => r.GetAttribute("data-connection-id")));
        Assert.Contains($"{Overview.Shown} of 12 connections", page.Find("[data-testid=connections-shown]").TextContent);
        var card = page.FindAll(".mud-paper").First(p => p.QuerySelector(".mud-typography-overline")?.TextContent.Trim() == "Connections");
        Assert.Equal("12", card.QuerySelector(".mud-typography-h4")!.TextContent.Trim()); // the count, not the rows shown
    }

    [Fact]
    public async Task Overview_lists_paused_connections_first_even_the_oldest_then_the_newest_of_the_rest()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var connections = await AddConnectionsAsync(orgId, installation.InstallationId, Overview.Shown + 5);
        var paused = new[] { connections[0], connections[3] }; // the oldest and an old one: neither among the newest ten
        await App.WithDbAsync(async db =>
        {
            var ids = paused.Select(c => c.Id).ToList();
            return await db.Connections.Where(c => ids.Contains(c.Id)).ExecuteUpdateAsync(s => s.SetProperty(c => c.PausedReason, "repository removed from the installation"));
        });
        SignInAs(orgId, MemberRole.Viewer);

        var page = RenderPage<Overview>();

        page.WaitForAssertion(() => Assert.Equal(Overview.Shown, page.FindAll("[data-testid=connection-row]").Count));
        var expected = paused.Reverse().Concat(connections.AsEnumerable().Reverse().Except(paused).Take(Overview.Shown - paused.Length));
        Assert.Equal(expected.Select(c => c.Id.ToString()), page.FindAll("[data-testid=connection-row]").Select(r => r.GetAttribute("data-connection-id")));
        Assert.Equal(2, page.FindAll("[data-testid=paused]").Count);
    }

    [Fact]
    public async Task Registry_page_shows_one_page_of_entries_with_the_totals_and_searches_in_the_database()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        await AddConnectionsAsync(orgId, installation.InstallationId, RegistryEntries.PageSize + 5, "entry");
        SignInAs(orgId);

        var page = RenderPage<RegistryEntries>();

        page.WaitForAssertion(() => Assert.Equal(RegistryEntries.PageSize, page.FindAll("[data-testid=entry-link]").Count));
        Assert.Equal("55 of 55 skills", page.Find("[data-testid=total]").TextContent.Trim());
        Assert.Equal("entry-000", page.FindAll("[data-testid=entry-link]")[0].TextContent.Trim());

        await InputAsync(page, () => page.Find("input[data-testid=search], [data-testid=search] input"), "ODD");
        page.WaitForAssertion(() => Assert.Equal("27 of 55 skills", page.Find("[data-testid=total]").TextContent.Trim()));
        Assert.Equal(27, page.FindAll("[data-testid=entry-link]").Count);
        Assert.All(page.FindAll("[data-testid=entry-link]"), l => Assert.True(int.Parse(l.TextContent.Trim()[^3..]) % 2 == 1));
    }
}
