using System.Text;
using System.Text.Json.Nodes;
using System.Net.Http.Json;
using AngleSharp.Dom;
using Bunit;
using Bunit.TestDoubles;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Components.Pages.GitHubSetup;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.GitHub;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// Issue 13: a returning user (an installation already bound) opens /settings/github at the repository list, with an
/// account switcher; the list is sorted by last push, marks this org's connected repositories and the ones holding a SKILL.md.
/// </summary>
public sealed class GitHubSetupReturningUserTests : PageTestContext, IClassFixture<GitHubHarness>
{
    readonly GitHubHarness h;
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public GitHubSetupReturningUserTests(GitHubHarness fixture) : base(fixture.App)
    {
        h = fixture;
        SetRendererInfo(new RendererInfo("Server", isInteractive: true));
    }

    FakeGitHub Gh => h.GitHub;

    static Dictionary<string, byte[]> Skill(string path) =>
        new() { [path] = Encoding.UTF8.GetBytes("---\nname: demo\ndescription: A demo.\n---\n# Demo\n"), ["README.md"] = "hello"u8.ToArray() };

    static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..6];

    IRenderedComponent<ContainerFragment> OpenSetup()
    {
        ((BunitNavigationManager)Services.GetRequiredService<NavigationManager>()).NavigateTo("/settings/github");
        return RenderPage<GitHubSetupPage>();
    }

    static List<string> RepoNames(IRenderedComponent<ContainerFragment> page) =>
        page.FindAll("[data-testid=repo-name]").Select(r => r.TextContent).ToList();

    static IElement Row(IRenderedComponent<ContainerFragment> page, string fullName) =>
        page.FindAll("[data-testid=repo-name]").Single(r => r.TextContent == fullName).Closest("tr")!;

    [Fact]
    public async Task Returning_user_lands_on_the_repositories_newest_push_first_with_connected_and_SKILL_md_marked()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var owner = Unique("ret");
        var installation = Gh.AddInstallation(owner);
        var old = Gh.AddRepo(installation, owner, "old-skill");
        Gh.PushCommit(old, "main", Skill("skills/demo/SKILL.md")); // a SKILL.md in a folder counts
        var fresh = Gh.AddRepo(installation, owner, "fresh-notes");
        Gh.PushCommit(fresh, "main", new Dictionary<string, byte[]> { ["README.md"] = "no skill here"u8.ToArray() });
        var middle = Gh.AddRepo(installation, owner, "connected-skill");
        Gh.PushCommit(middle, "main", Skill("SKILL.md"));
        var empty = Gh.AddRepo(installation, owner, "empty-repo"); // nothing pushed: no branch; GitHub gives its creation time, a week ago
        var now = DateTimeOffset.UtcNow;
        fresh.PushedAt = now.AddMinutes(-1);
        middle.PushedAt = now.AddHours(-2);
        old.PushedAt = now.AddDays(-30);

        await App.InstallationAsync(orgId, owner, installationId: installation.Id);
        var connection = await App.ConnectionAsync(orgId, "connected-skill", middle.FullName, installation.Id, repoId: middle.Id);
        SignInAs(orgId, MemberRole.Admin);

        // No install or bind step: the repositories of the bound installation, newest push first.
        var page = OpenSetup();
        page.WaitForElement("[data-testid=repos]", Wait);
        Assert.Equal([fresh.FullName, middle.FullName, empty.FullName, old.FullName], RepoNames(page));

        // This org's connection is marked and linked; the others are not.
        var connected = Row(page, middle.FullName).QuerySelector("[data-testid=connected]")!;
        Assert.Equal("Connected", connected.TextContent.Trim());
        Assert.Equal($"/connections/{connection.Id}", connected.GetAttribute("href") ?? connected.QuerySelector("a")?.GetAttribute("href"));
        Assert.Null(Row(page, old.FullName).QuerySelector("[data-testid=connected]"));

        // SKILL.md, at the root or in a folder, is marked on the rows shown; none elsewhere.
        page.WaitForAssertion(() =>
        {
            Assert.NotNull(Row(page, old.FullName).QuerySelector("[data-testid=has-skill]"));
            Assert.NotNull(Row(page, middle.FullName).QuerySelector("[data-testid=has-skill]"));
            Assert.NotNull(Row(page, fresh.FullName).QuerySelector("[data-testid=no-skill]"));
            Assert.NotNull(Row(page, empty.FullName).QuerySelector("[data-testid=no-skill]"));
        }, Wait);

        // The switcher names the account; installing on another one stays offered.
        var option = Assert.Single(page.FindAll("[data-testid=account-option]"));
        Assert.Equal(owner, option.GetAttribute("data-account"));
        Assert.Equal("true", option.GetAttribute("data-selected"));
        Assert.False(page.Find("[data-testid=install-another]").HasAttribute("disabled"));
    }

    [Fact]
    public async Task Switching_accounts_lists_the_other_installations_repositories_and_checks_only_the_page_shown()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var first = Gh.AddInstallation(Unique("acct-a"));
        var firstRepo = Gh.AddRepo(first, first.AccountLogin, "alpha");
        Gh.PushCommit(firstRepo, "main", Skill("SKILL.md"));
        var second = Gh.AddInstallation(Unique("acct-b"), accountType: "User");
        // 12 repositories: the table shows 10 a page, so two are not asked about.
        var many = Enumerable.Range(1, 12).Select(i =>
        {
            var repo = Gh.AddRepo(second, second.AccountLogin, $"repo-{i:00}");
            Gh.PushCommit(repo, "main", Skill("SKILL.md"));
            repo.PushedAt = DateTimeOffset.UtcNow.AddMinutes(-i);
            return repo;
        }).ToList();
        await App.InstallationAsync(orgId, first.AccountLogin, installationId: first.Id);
        await App.InstallationAsync(orgId, second.AccountLogin, installationId: second.Id);
        SignInAs(orgId, MemberRole.Admin);

        var page = OpenSetup();
        page.WaitForAssertion(() => Assert.Equal([firstRepo.FullName], RepoNames(page)), Wait);
        Assert.Equal([first.AccountLogin, second.AccountLogin], page.FindAll("[data-testid=account-option]").Select(o => o.GetAttribute("data-account")));

        await page.InvokeAsync(() => page.FindAll("[data-testid=account-option]").Single(o => o.GetAttribute("data-account") == second.AccountLogin).Click());
        page.WaitForAssertion(() => Assert.Equal(many.Take(10).Select(r => r.FullName), RepoNames(page)), Wait);
        Assert.Equal("true", page.FindAll("[data-testid=account-option]").Single(o => o.GetAttribute("data-account") == second.AccountLogin).GetAttribute("data-selected"));
        page.WaitForAssertion(() => Assert.Equal(10, page.FindAll("[data-testid=has-skill]").Count), Wait);

        // Only the rows shown were looked at on GitHub.
        foreach (var repo in many.Take(10)) Assert.True(Gh.CountRequests($"/repos/{repo.FullName}/git/trees/") > 0, repo.FullName);
        foreach (var repo in many.Skip(10)) Assert.Equal(0, Gh.CountRequests($"/repos/{repo.FullName}/git/trees/"));
    }

    [Fact]
    public async Task Repos_API_says_which_repositories_this_org_connects_newest_push_first()
    {
        var c = await h.ConnectedOrgAsync(Unique("api-repos"));
        var other = Gh.AddRepo(c.Installation, c.Installation.AccountLogin, "not-connected");
        other.PushedAt = DateTimeOffset.UtcNow.AddDays(1); // pushed after the connected one

        var body = await c.Api.GetFromJsonAsync<JsonObject>($"/api/v1/github/repos?installation_id={c.Installation.Id}");
        var repos = body!["repos"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.Equal([other.FullName, c.Repo.FullName], repos.Select(r => r["full_name"]!.GetValue<string>()));
        Assert.Equal([false, true], repos.Select(r => r["connected"]!.GetValue<bool>()));
        Assert.All(repos, r => Assert.False(r["connected_elsewhere"]!.GetValue<bool>()));
        Assert.All(repos, r => Assert.NotNull(r["pushed_at"]));
        Assert.All(repos, r => Assert.False(r.ContainsKey("connection_id"))); // the page's link is not part of the wire format
    }
}
