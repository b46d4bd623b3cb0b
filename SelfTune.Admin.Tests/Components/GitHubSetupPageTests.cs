using System.Text;
using System.Text.Json;
using System.Web;
using AngleSharp.Dom;
using Bunit;
using Bunit.TestDoubles;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Components.Pages.GitHubSetup;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.GitHub;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// The GitHub setup page (/settings/github) on the real app's services and a fake GitHub: install link, GitHub's redirect
/// back (bind, and every way it can fail), the repository table, the connection form and its live checks, and Create.
/// </summary>
public sealed class GitHubSetupPageTests : PageTestContext, IClassFixture<GitHubHarness>
{
    readonly FakeGitHub gh;
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public GitHubSetupPageTests(GitHubHarness fixture) : base(fixture.App)
    {
        gh = fixture.GitHub;
        SetRendererInfo(new RendererInfo("Server", isInteractive: true));
    }

    BunitNavigationManager Nav => (BunitNavigationManager)Services.GetRequiredService<NavigationManager>();

    /// <summary>The same member's browser, for the App's callback (an endpoint, not this page).</summary>
    HttpClient? browser;

    async Task<(Guid OrgId, Guid ActorId)> SignInToNewOrgAsync(MemberRole role = MemberRole.Owner)
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        (browser, var actorId) = await SignedInBrowser.CreateAsync(App, orgId, role);
        SignInAs(orgId, role, memberId: actorId);
        return (orgId, actorId);
    }

    /// <summary>
    /// GitHub's install page for <paramref name="state"/> (with <paramref name="githubUser"/> signed in, default an admin of the
    /// installation's account) → the App's callback in this member's browser → where it sends the browser on (this page).
    /// <paramref name="installationId"/> replaces the id on the way back, as someone editing the address would.
    /// </summary>
    async Task<string> InstallThroughCallbackAsync(FakeInstallation installation, string state, string? githubUser = null, long? installationId = null)
    {
        gh.NextInstallForBrowser = installation;
        gh.BrowserUser = githubUser ?? GitHubHarness.InstallerOf(installation);
        using var github = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var redirect = await github.GetAsync(new Uri(gh.BaseUrl, $"apps/{gh.AppSlug}/installations/new?state={Uri.EscapeDataString(state)}"));
        var callback = redirect.Headers.Location!.PathAndQuery;
        if (installationId is { } id) callback = callback.Replace($"installation_id={installation.Id}", $"installation_id={id}");
        return (await GitHubHarness.CallbackAsync(browser!, new Uri(callback, UriKind.Relative))).OriginalString;
    }

    async Task<string> IssueStateAsync(Guid orgId, Guid actorId)
    {
        await using var scope = App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<InstallationBinder>().IssueStateAsync(new Actor(orgId, actorId, MemberRole.Admin), CancellationToken.None);
    }

    /// <summary>Binds an installation straight into the database, with the permissions GitHub holds for it.</summary>
    Task BindDirectlyAsync(Guid orgId, FakeInstallation installation) => App.WithDbAsync(async db =>
    {
        db.Installations.Add(new GitHubInstallation
        {
            OrgId = orgId, InstallationId = installation.Id, AccountLogin = installation.AccountLogin, AccountType = installation.AccountType,
            AccountId = installation.AccountId, Permissions = JsonSerializer.Serialize(installation.Permissions),
            CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
        });
        return await db.SaveChangesAsync();
    });

    IRenderedComponent<ContainerFragment> RenderAt(string relativeUrl)
    {
        Nav.NavigateTo(relativeUrl);
        return RenderPage<GitHubSetupPage>();
    }

    static IElement Input(IRenderedComponent<ContainerFragment> page, string testId) =>
        page.Find($"input[data-testid={testId}], [data-testid={testId}] input");

    static string Text(IRenderedComponent<ContainerFragment> page, string testId) => page.Find($"[data-testid={testId}]").TextContent;

    /// <summary>A bound installation → the page opens at its repository table (a returning user).</summary>
    async Task<IRenderedComponent<ContainerFragment>> OpenRepositoriesAsync(Guid orgId, FakeInstallation installation)
    {
        await BindDirectlyAsync(orgId, installation);
        var page = RenderAt("/settings/github");
        page.WaitForElement("[data-testid=repos]", Wait);
        return page;
    }

    /// <summary>... → Select the repository → the connection form, with entries, skill folders and tags loaded.</summary>
    async Task<IRenderedComponent<ContainerFragment>> OpenConfigureAsync(Guid orgId, FakeInstallation installation, FakeRepo repo)
    {
        var page = await OpenRepositoriesAsync(orgId, installation);
        page.WaitForAssertion(() => Assert.Contains(page.FindAll("[data-testid=repo-name]"), r => r.TextContent == repo.FullName), Wait);
        await ClickAsync(page, () => page.FindAll("[data-testid=repo-name]").Single(r => r.TextContent == repo.FullName)
            .Closest("tr")!.QuerySelector("[data-testid=select-repo]")!);
        page.WaitForAssertion(() =>
        {
            Assert.Equal(repo.FullName, Text(page, "configure-repo"));
            Assert.Empty(page.FindAll("[data-testid=folders-loading], [data-testid=tags-loading], [data-testid=entries-loading], [data-testid=folder-checking]"));
        }, Wait);
        return page;
    }

    static Dictionary<string, byte[]> Files(params string[] paths) => FilesNamed("x", paths);

    /// <summary>The files, each SKILL.md naming the skill <paramref name="skillName"/>.</summary>
    static Dictionary<string, byte[]> FilesNamed(string skillName, params string[] paths) =>
        paths.ToDictionary(p => p, p => Encoding.UTF8.GetBytes(p.EndsWith("SKILL.md") ? $"---\nname: {skillName}\ndescription: y\n---\n# x\n" : "text"));

    [Fact]
    public async Task Install_button_sends_the_browser_to_github_with_a_fresh_state_and_the_redirect_back_binds_the_verified_account()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var installation = gh.AddInstallation("octo-" + Guid.NewGuid().ToString("N")[..6], "Organization", checksWrite: true, statusesWrite: false);

        var page = RenderAt("/settings/github");
        page.WaitForAssertion(() => Assert.Contains(gh.AppSlug, Text(page, "app-status")), Wait);
        Assert.Contains("None yet", Text(page, "installations-empty"));
        await ClickAsync(page, "install-app");

        // Same tab, to GitHub's install page for the App, with a signed state.
        // The history also holds the page's own address (RenderAt): wait for the click's navigation, which follows a database
        // write, to be the latest.
        page.WaitForAssertion(() => Assert.StartsWith(gh.BaseUrl.ToString(), Nav.History.First().Uri), Wait);
        var target = Nav.History.First();
        var url = new Uri(target.Uri);
        Assert.StartsWith($"{gh.BaseUrl}apps/{gh.AppSlug}/installations/new?state=", url.AbsoluteUri);
        Assert.True(target.Options.ForceLoad);
        Assert.False(string.IsNullOrEmpty(HttpUtility.ParseQueryString(url.Query)["state"]));

        // GitHub installs, asks the person to authorize the App and sends the browser to the callback with a code, the
        // installation and our state; the callback proves and binds, then sends the browser back here.
        gh.NextInstallForBrowser = installation;
        gh.BrowserUser = GitHubHarness.InstallerOf(installation);
        using var github = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var redirect = await github.GetAsync(url);
        var back = redirect.Headers.Location!;
        Assert.Equal("/settings/github/callback", back.AbsolutePath);
        Assert.Equal(installation.Id.ToString(), HttpUtility.ParseQueryString(back.Query)["installation_id"]);
        var outcome = await GitHubHarness.CallbackAsync(browser!, back);
        Assert.Equal($"/settings/github?bound={installation.Id}", outcome.OriginalString);

        await DisposeComponentsAsync();
        page = RenderAt(outcome.OriginalString);
        page.WaitForElement("[data-testid=verified-account]", Wait);
        Assert.Equal(installation.AccountLogin, Text(page, "account-login"));
        Assert.Equal("Organization", Text(page, "account-type"));
        var permissions = page.FindAll("[data-testid=account-permissions] [data-testid=permission]").Select(p => p.TextContent.Trim()).ToList();
        Assert.Equal(["checks: write", "contents: read", "metadata: read"], permissions);
        Assert.Contains("bound to your org", Text(page, "bind-success"));

        var row = await App.WithDbAsync(db => db.Installations.SingleAsync(i => i.OrgId == orgId && i.InstallationId == installation.Id));
        Assert.Equal(installation.AccountLogin, row.AccountLogin);

        // Onwards to the repositories.
        await ClickAsync(page, "to-repositories");
        page.WaitForElement("[data-testid=repos-empty]", Wait);
    }

    [Fact]
    public async Task A_redirect_without_GitHubs_user_authorization_is_refused_and_offers_it()
    {
        // An App whose owner turned "Request user authorization (OAuth) during installation" off sends the browser to the
        // Setup URL with an installation id only, which anyone can type.
        await SignInToNewOrgAsync();
        var installation = gh.AddInstallation("nostate-" + Guid.NewGuid().ToString("N")[..6]);
        var page = RenderAt($"/settings/github?installation_id={installation.Id}&setup_action=install");
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.Contains("could not verify", Text(page, "bind-error-title"));
        Assert.Contains("without asking you to authorize the App", Text(page, "bind-error-message"));
        Assert.NotEmpty(page.FindAll("[data-testid=connect-existing-retry]"));

        await ClickAsync(page, "start-again");
        Assert.Equal("http://localhost/settings/github", Nav.Uri);
        page.WaitForElement("[data-testid=install-app]", Wait);
        Assert.Empty(page.FindAll("[data-testid=bind-error]"));
    }

    [Fact]
    public async Task A_state_used_once_cannot_bind_a_second_installation()
    {
        var (orgId, actorId) = await SignInToNewOrgAsync();
        var first = gh.AddInstallation("reuse-a-" + Guid.NewGuid().ToString("N")[..6]);
        var second = gh.AddInstallation("reuse-b-" + Guid.NewGuid().ToString("N")[..6]);
        var state = await IssueStateAsync(orgId, actorId);

        var page = RenderAt(await InstallThroughCallbackAsync(first, state));
        page.WaitForElement("[data-testid=verified-account]", Wait);
        await DisposeComponentsAsync();

        page = RenderAt(await InstallThroughCallbackAsync(second, state));
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.Contains("already been used", Text(page, "bind-error-message"));
        Assert.NotEmpty(page.FindAll("[data-testid=start-again]"));
        Assert.False(await App.WithDbAsync(db => db.Installations.AnyAsync(i => i.OrgId == orgId && i.InstallationId == second.Id)));
    }

    [Fact]
    public async Task A_state_issued_to_another_org_is_refused()
    {
        var (otherOrg, _) = await App.CreateOrgAsync(Plan.Pro);
        var state = await IssueStateAsync(otherOrg, Guid.NewGuid());
        var (orgId, _) = await SignInToNewOrgAsync();
        var installation = gh.AddInstallation("cross-" + Guid.NewGuid().ToString("N")[..6]);

        var page = RenderAt(await InstallThroughCallbackAsync(installation, state));
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.Contains("started by another SelfTune org", Text(page, "bind-error-message"));
        Assert.NotEmpty(page.FindAll("[data-testid=start-again]"));
        Assert.False(await App.WithDbAsync(db => db.Installations.AnyAsync(i => i.OrgId == orgId)));
    }

    [Fact]
    public async Task An_installation_the_persons_GitHub_account_cannot_reach_is_refused_and_explained()
    {
        // Someone else's installation: the person installs their own through the link and edits the id on the way back.
        var installation = gh.AddInstallation("elsewhere-" + Guid.NewGuid().ToString("N")[..6]);
        var (orgId, actorId) = await SignInToNewOrgAsync();
        var login = "own-" + Guid.NewGuid().ToString("N")[..6];
        var own = gh.AddInstallation(login, "User");
        var state = await IssueStateAsync(orgId, actorId);

        var page = RenderAt(await InstallThroughCallbackAsync(own, state, githubUser: login, installationId: installation.Id));
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.Contains("could not verify", Text(page, "bind-error-title"));
        Assert.Contains($"did not list installation {installation.Id}", Text(page, "bind-error-message"));
        Assert.DoesNotContain(installation.AccountLogin, Text(page, "bind-error-message"));
        Assert.NotEmpty(page.FindAll("[data-testid=start-again]"));
        Assert.False(await App.WithDbAsync(db => db.Installations.AnyAsync(i => i.OrgId == orgId)));
    }

    [Fact]
    public async Task A_made_up_outcome_in_the_address_is_not_shown()
    {
        await SignInToNewOrgAsync();
        var page = RenderAt("/settings/github?bind_error=" + Uri.EscapeDataString("Your account is locked, call +1 555 0100"));
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.DoesNotContain("555", Text(page, "bind-error"));
    }

    [Fact]
    public async Task Connect_an_installation_you_already_have_lists_what_GitHub_lists_for_the_person_and_binds_the_one_picked()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var team = "team-" + Guid.NewGuid().ToString("N")[..6];
        var reachable = gh.AddInstallation(team);
        var gone = gh.AddInstallation(team + "-old");
        var unreachable = gh.AddInstallation("other-" + Guid.NewGuid().ToString("N")[..6]);
        var person = "person-" + Guid.NewGuid().ToString("N")[..6];
        gh.AddUser(person, team, team + "-old");

        var page = RenderAt("/settings/github");
        page.WaitForElement("[data-testid=connect-existing]", Wait);
        await ClickAsync(page, "connect-existing");
        page.WaitForAssertion(() => Assert.StartsWith(gh.BaseUrl.ToString(), Nav.History.First().Uri), Wait); // not RenderAt's own entry
        var authorize = new Uri(Nav.History.First().Uri);
        Assert.StartsWith($"{gh.BaseUrl}login/oauth/authorize?client_id={gh.ClientId}&state=", authorize.AbsoluteUri);
        Assert.Equal("http://localhost/settings/github/callback", HttpUtility.ParseQueryString(authorize.Query)["redirect_uri"]);

        // GitHub asks the person to authorize the App and sends the browser to the callback without an installation.
        gh.BrowserUser = person;
        using var github = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var redirect = await github.GetAsync(authorize);
        var outcome = await GitHubHarness.CallbackAsync(browser!, redirect.Headers.Location!);
        Assert.StartsWith("/settings/github?connect=", outcome.OriginalString);

        await DisposeComponentsAsync();
        page = RenderAt(outcome.OriginalString);
        page.WaitForElement("[data-testid=connect-list]", Wait);
        Assert.Equal([reachable.AccountLogin, gone.AccountLogin], page.FindAll("[data-testid=connect-account]").Select(a => a.TextContent));
        Assert.DoesNotContain(unreachable.AccountLogin, page.Markup);

        // One of them was uninstalled meanwhile: GitHub does not know it any more.
        gh.RemoveInstallation(gone);
        await ClickAsync(page, () => page.FindAll("[data-testid=connect-row]").Single(r => r.QuerySelector("[data-testid=connect-account]")!.TextContent == gone.AccountLogin).QuerySelector("[data-testid=connect-installation]")!);
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.Equal("GitHub does not know this installation", Text(page, "bind-error-title"));
        Assert.Contains(gone.Id.ToString(), Text(page, "bind-error-message"));
        Assert.NotEmpty(page.FindAll("[data-testid=start-again]"));
        await DisposeComponentsAsync();

        page = RenderAt(outcome.OriginalString);
        page.WaitForElement("[data-testid=connect-list]", Wait);
        await ClickAsync(page, () => page.FindAll("[data-testid=connect-row]").Single(r => r.QuerySelector("[data-testid=connect-account]")!.TextContent == reachable.AccountLogin).QuerySelector("[data-testid=connect-installation]")!);
        page.WaitForElement("[data-testid=verified-account]", Wait);
        Assert.Equal(reachable.AccountLogin, Text(page, "account-login"));
        Assert.Contains("bound to your org", Text(page, "bind-success"));
        Assert.True(await App.WithDbAsync(db => db.Installations.AnyAsync(i => i.OrgId == orgId && i.InstallationId == reachable.Id)));
        Assert.False(await App.WithDbAsync(db => db.Installations.AnyAsync(i => i.OrgId == orgId && i.InstallationId == unreachable.Id)));
    }

    [Fact]
    public async Task Setup_action_update_rereads_the_installation_and_says_the_permissions_changed()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var installation = gh.AddInstallation("upd-" + Guid.NewGuid().ToString("N")[..6], checksWrite: false, statusesWrite: false);
        await BindDirectlyAsync(orgId, installation);
        installation.SetPermissions(checksWrite: true, statusesWrite: true);

        var page = RenderAt($"/settings/github?installation_id={installation.Id}&setup_action=update");
        page.WaitForElement("[data-testid=verified-account]", Wait);
        Assert.Contains("changed", Text(page, "bind-note"));
        Assert.Contains("checks: write", Text(page, "account-permissions"));
        var stored = await App.WithDbAsync(db => db.Installations.SingleAsync(i => i.OrgId == orgId && i.InstallationId == installation.Id));
        Assert.True(InstallationPermissions.Has(stored.Permissions, "statuses"));
    }

    [Fact]
    public async Task An_installation_request_awaiting_an_organization_owner_is_explained()
    {
        await SignInToNewOrgAsync();
        var page = RenderAt("/settings/github?setup_action=request");
        page.WaitForElement("[data-testid=install-requested]", Wait);
        Assert.Contains("owner of the organization", Text(page, "install-requested"));
        Assert.NotEmpty(page.FindAll("[data-testid=start-again]"));
    }

    [Fact]
    public async Task Repository_table_flags_a_repository_another_org_publishes_from()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var owner = "rt-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner);
        var shared = gh.AddRepo(installation, owner, "shared-skill");
        gh.AddRepo(installation, owner, "own-skill", defaultBranch: "trunk", visibility: "private");

        // Another org already connects shared-skill (matched by repository id).
        var (otherOrg, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.WithDbAsync(async db =>
        {
            var entry = new RegistryEntry { OrgId = otherOrg, Name = "shared", CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow };
            db.Entries.Add(entry);
            db.Connections.Add(new GitHubConnection
            {
                OrgId = otherOrg, EntryId = entry.Id, InstallationId = installation.Id, RepoId = shared.Id, RepoOwner = owner, RepoName = "old-name",
                CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
            });
            return await db.SaveChangesAsync();
        });

        var page = await OpenRepositoriesAsync(orgId, installation);
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=repo-name]").Count), Wait);
        var rows = page.FindAll("tbody tr").ToDictionary(r => r.QuerySelector("[data-testid=repo-name]")!.TextContent);
        Assert.NotNull(rows[shared.FullName].QuerySelector("[data-testid=connected-elsewhere]"));
        Assert.Null(rows[$"{owner}/own-skill"].QuerySelector("[data-testid=connected-elsewhere]"));
        Assert.Contains("trunk", rows[$"{owner}/own-skill"].TextContent);
        Assert.Contains("private", rows[$"{owner}/own-skill"].TextContent);
        Assert.Contains(RepositoryPicker.ConnectedElsewhereText, page.Markup);
        Assert.Contains("Another SelfTune org already publishes from this repository", Text(page, "connected-elsewhere-note"));

        // The search narrows the table.
        await page.InvokeAsync(() => Input(page, "repo-search").Input("own"));
        page.WaitForAssertion(() => Assert.Equal([$"{owner}/own-skill"], page.FindAll("[data-testid=repo-name]").Select(r => r.TextContent)), Wait);
    }

    [Fact]
    public async Task Configure_offers_skill_folders_and_checks_the_tag_pattern_against_existing_tags_as_typed()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var owner = "cf-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner);
        var repo = gh.AddRepo(installation, owner, "skills");
        var sha = gh.PushCommit(repo, "main", Files("skills/foo/SKILL.md", "skills/foo/run.sh", "skills/bar/SKILL.md", "README.md"));
        gh.PushTag(repo, "v1.0.0", sha);
        gh.PushTag(repo, "v1.2", sha);
        gh.PushTag(repo, "release-2.0.0", sha);

        var page = await OpenConfigureAsync(orgId, installation, repo);
        Assert.Equal(["skills/bar", "skills/foo"], page.FindAll("[data-testid=skill-folder]").Select(c => c.TextContent.Trim()));
        Assert.Equal("main", Input(page, "branch").GetAttribute("value"));
        // No SKILL.md at the root: the form says so until a folder is picked.
        Assert.NotEmpty(page.FindAll("[data-testid=skill-path-warning]"));
        await ClickAsync(page, () => page.FindAll("[data-testid=skill-folder]").Single(c => c.TextContent.Trim() == "skills/foo"));
        page.WaitForAssertion(() => Assert.Equal("skills/foo", Input(page, "skill-path").GetAttribute("value")), Wait);
        Assert.Empty(page.FindAll("[data-testid=skill-path-warning]"));

        // v* : v1.0.0 publishes 1.0.0, v1.2 is skipped (not SemVer), release-2.0.0 does not match.
        var rows = page.FindAll("[data-testid=tag-row]").ToDictionary(r => r.GetAttribute("data-tag")!);
        Assert.Equal(["v1.0.0", "v1.2"], rows.Keys.Order());
        Assert.Equal("1.0.0", rows["v1.0.0"].QuerySelector("[data-testid=tag-version]")!.TextContent.Trim());
        Assert.Equal("false", rows["v1.2"].GetAttribute("data-publishes"));
        Assert.Contains("not SemVer", rows["v1.2"].QuerySelector("[data-testid=tag-skip-reason]")!.TextContent);
        Assert.Contains("release-2.0.0", Text(page, "tags-unmatched"));

        // Typing another pattern re-checks at once.
        await page.InvokeAsync(() => Input(page, "tag-pattern").Input("release-*"));
        page.WaitForAssertion(() =>
        {
            var row = Assert.Single(page.FindAll("[data-testid=tag-row]"));
            Assert.Equal("release-2.0.0", row.GetAttribute("data-tag"));
            Assert.Equal("2.0.0", row.QuerySelector("[data-testid=tag-version]")!.TextContent.Trim());
        }, Wait);

        // An invalid pattern is named, and Create waits for a valid one.
        await page.InvokeAsync(() => Input(page, "tag-pattern").Input("v["));
        page.WaitForAssertion(() => Assert.Contains("without a closing ']'", Text(page, "tag-pattern-error")), Wait);
        Assert.True(page.Find("[data-testid=create-connection]").HasAttribute("disabled"));
    }

    [Fact]
    public async Task Configure_checks_the_chosen_folder_before_Create_and_names_the_new_entry_after_its_SKILL_md()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var owner = "fc-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner);
        var repo = gh.AddRepo(installation, owner, "Skill-Repo");
        gh.PushCommit(repo, "main", new Dictionary<string, byte[]>
        {
            ["skills/good/SKILL.md"] = "---\nname: pdf-tools\ndescription: Reads PDFs.\n---\n# PDF tools\n"u8.ToArray(),
            ["skills/leaky/SKILL.md"] = "---\nname: leaky\ndescription: Carries a key.\n---\n# Leaky\n"u8.ToArray(),
            ["skills/leaky/keys/id_rsa"] = "-----BEGIN OPENSSH PRIVATE KEY-----\n"u8.ToArray(),
        });

        var page = await OpenConfigureAsync(orgId, installation, repo);
        // Two skill folders: none is chosen for the user, so nothing is checked yet and the name comes from the repository.
        Assert.Empty(page.FindAll("[data-testid=folder-problems], [data-testid=folder-ok]"));
        Assert.Equal("skill-repo", Input(page, "new-entry-name").GetAttribute("value"));

        // The folder with a private key: the problem, in words, before Create.
        await ClickAsync(page, () => page.FindAll("[data-testid=skill-folder]").Single(c => c.TextContent.Trim() == "skills/leaky"));
        page.WaitForAssertion(() =>
        {
            Assert.Contains("fails until this is fixed", Text(page, "folder-problems"));
            Assert.Equal("skills/leaky/keys/id_rsa", Text(page, "folder-problem-file"));
            Assert.Contains("looks like a secret", Text(page, "folder-problem-message"));
        }, Wait);
        Assert.Equal("skill-repo", Input(page, "new-entry-name").GetAttribute("value")); // no valid skill: no name taken from it

        // A valid folder: ready to publish, and the new entry takes the skill's name.
        await ClickAsync(page, () => page.FindAll("[data-testid=skill-folder]").Single(c => c.TextContent.Trim() == "skills/good"));
        page.WaitForAssertion(() => Assert.Contains("“pdf-tools”", Text(page, "folder-ok")), Wait);
        Assert.Empty(page.FindAll("[data-testid=folder-problems]"));
        Assert.Equal("pdf-tools", Input(page, "new-entry-name").GetAttribute("value"));

        // A name the user typed stays theirs.
        await page.InvokeAsync(() => Input(page, "new-entry-name").Input("my-pdf-skill"));
        await ClickAsync(page, () => page.FindAll("[data-testid=skill-folder]").Single(c => c.TextContent.Trim() == "skills/leaky"));
        page.WaitForElement("[data-testid=folder-problems]", Wait);
        await ClickAsync(page, () => page.FindAll("[data-testid=skill-folder]").Single(c => c.TextContent.Trim() == "skills/good"));
        page.WaitForElement("[data-testid=folder-ok]", Wait);
        Assert.Equal("my-pdf-skill", Input(page, "new-entry-name").GetAttribute("value"));

        await ClickAsync(page, "create-connection");
        page.WaitForAssertion(() => Assert.Contains("/connections/", Nav.Uri), Wait);
        var connection = await App.WithDbAsync(db => db.Connections.Include(c => c.Entry).SingleAsync(c => c.OrgId == orgId));
        Assert.Equal("skills/good", connection.SkillPath);
        Assert.Equal("my-pdf-skill", connection.Entry!.Name);
    }

    [Fact]
    public async Task Write_back_is_disabled_with_the_reason_when_the_org_mode_is_off_or_the_installation_cannot_post()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var owner = "wb-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner);
        var repo = gh.AddRepo(installation, owner, "skill");
        gh.PushCommit(repo, "main", Files("SKILL.md"));
        await App.WithDbAsync(async db =>
        {
            db.GitHubSettings.Add(new GitHubOrgSettings { OrgId = orgId, WriteBackMode = WriteBackMode.Off, UpdatedAt = DateTimeOffset.UtcNow });
            return await db.SaveChangesAsync();
        });

        var page = await OpenConfigureAsync(orgId, installation, repo);
        Assert.True(Input(page, "write-back").HasAttribute("disabled"));
        Assert.Contains("off for the whole org", Text(page, "write-back-reason"));
        Assert.True(page.Find("input[data-testid=mode-off]").HasAttribute("checked"));

        // Turning the org mode on (on the same page) enables the switch.
        await ClickAsync(page, () => page.Find("input[data-testid=mode-checks]"));
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=write-back-reason]")), Wait);
        Assert.False(Input(page, "write-back").HasAttribute("disabled"));
        Assert.Equal(WriteBackMode.Checks, await App.WithDbAsync(db => db.GitHubSettings.Where(s => s.OrgId == orgId).Select(s => s.WriteBackMode).SingleAsync()));
    }

    [Fact]
    public async Task Write_back_is_disabled_when_the_installation_has_neither_checks_nor_statuses_write()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var owner = "np-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner, checksWrite: false, statusesWrite: false);
        var repo = gh.AddRepo(installation, owner, "skill");
        gh.PushCommit(repo, "main", Files("SKILL.md"));

        var page = await OpenConfigureAsync(orgId, installation, repo);
        Assert.True(Input(page, "write-back").HasAttribute("disabled"));
        Assert.Contains("neither Checks nor Commit statuses write", Text(page, "write-back-reason"));
    }

    [Fact]
    public async Task Create_makes_the_entry_and_the_connection_and_lands_on_the_connection_page()
    {
        var (orgId, actorId) = await SignInToNewOrgAsync();
        var owner = "cr-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner);
        var repo = gh.AddRepo(installation, owner, "My_Skill", defaultBranch: "trunk");
        // SKILL.md's name breaks the Agent Skills rules: the form says so, takes no name from it, and Create is still offered.
        var head = gh.PushCommit(repo, "trunk", FilesNamed("my_skill", "SKILL.md", "notes.md"));

        var page = await OpenConfigureAsync(orgId, installation, repo);
        Assert.Equal(["."], page.FindAll("[data-testid=skill-folder]").Select(c => c.TextContent.Trim()));
        Assert.Equal("trunk", Input(page, "branch").GetAttribute("value"));
        // No entries yet: a new one, named after the repository.
        Assert.Equal("my_skill", Input(page, "new-entry-name").GetAttribute("value"));
        page.WaitForAssertion(() => Assert.Contains("fails until this is fixed", Text(page, "folder-problems")), Wait);
        await page.InvokeAsync(() => Input(page, "tag-pattern").Input("release/v*"));

        await ClickAsync(page, "create-connection");
        page.WaitForAssertion(() => Assert.Contains("/connections/", Nav.Uri), Wait);

        var connection = await App.WithDbAsync(db => db.Connections.Include(c => c.Entry).SingleAsync(c => c.OrgId == orgId));
        Assert.Equal($"http://localhost/connections/{connection.Id}", Nav.Uri);
        Assert.Equal(repo.Id, connection.RepoId);
        Assert.Equal(installation.Id, connection.InstallationId);
        Assert.Equal("trunk", connection.DefaultBranch);
        Assert.Equal(".", connection.SkillPath);
        Assert.Equal("release/v*", connection.TagPattern);
        Assert.True(connection.AutoPublish);
        Assert.True(connection.WriteBackEnabled);
        Assert.Equal(actorId, connection.CreatedBy);
        Assert.Equal("my_skill", connection.Entry!.Name);
        Assert.Equal(repo.FullName, connection.Entry.SourceRepo);

        // Auto-publish is on: the first sync, queued with the connection, tries trunk's head without any webhook, and
        // fails as the form warned, naming the problem.
        var key = SelfTune.Admin.GitHub.Publishing.PublishJobs.ConcurrencyKey(connection.Id);
        var job = await App.WithDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.ConcurrencyKey == key));
        await App.Services.GetRequiredService<SelfTune.Admin.Jobs.JobQueue>().WaitForCompletionAsync(job.Id, Wait);
        var attempt = Assert.Single(await App.WithDbAsync(db => db.Attempts.AsNoTracking().Where(a => a.ConnectionId == connection.Id).ToListAsync()));
        Assert.True(attempt.Status == AttemptStatus.Failed, $"{attempt.Status}: {attempt.Message}");
        Assert.Contains("my_skill", attempt.Message);
        Assert.Equal((AttemptTrigger.Manual, head), (attempt.Trigger, attempt.SourceRef));
    }

    [Fact]
    public async Task A_create_that_github_refuses_shows_the_servers_message_and_keeps_the_new_entry_for_the_retry()
    {
        var (orgId, _) = await SignInToNewOrgAsync();
        var owner = "rf-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner);
        var repo = gh.AddRepo(installation, owner, "gone");
        gh.PushCommit(repo, "main", FilesNamed("gone", "SKILL.md"));

        var page = await OpenConfigureAsync(orgId, installation, repo);
        gh.RemoveRepoFromInstallation(installation, repo); // the repository leaves the installation meanwhile
        await ClickAsync(page, "create-connection");
        page.WaitForAssertion(() => Assert.Contains("not reachable through installation", Text(page, "create-error")), Wait);
        Assert.False(await App.WithDbAsync(db => db.Connections.AnyAsync(c => c.OrgId == orgId)));
        // The entry was created; the form now points at it instead of creating it again.
        Assert.True(await App.WithDbAsync(db => db.Entries.AnyAsync(e => e.OrgId == orgId && e.Name == "gone")));
        Assert.Empty(page.FindAll("[data-testid=new-entry-name]"));
        Assert.Contains("gone", page.Find("[data-testid=entry-select]").OuterHtml + Input(page, "entry-select").GetAttribute("value"));
    }

    [Fact]
    public async Task Members_below_admin_see_the_page_read_only()
    {
        var (orgId, _) = await SignInToNewOrgAsync(MemberRole.Member);
        var owner = "ro-" + Guid.NewGuid().ToString("N")[..6];
        var installation = gh.AddInstallation(owner);
        var repo = gh.AddRepo(installation, owner, "skill");
        gh.PushCommit(repo, "main", Files("SKILL.md"));

        var page = await OpenConfigureAsync(orgId, installation, repo);
        Assert.Contains("read-only", Text(page, "read-only"));
        Assert.True(page.Find("[data-testid=create-connection]").HasAttribute("disabled"));
        Assert.True(page.Find("input[data-testid=mode-checks]").HasAttribute("disabled"));

        // A member cannot bind through GitHub's redirect either.
        await DisposeComponentsAsync();
        page = RenderAt($"/settings/github?installation_id={installation.Id}&setup_action=install&state=x");
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.Contains("Only admins and owners", Text(page, "bind-error-title"));
        Assert.True(page.Find("[data-testid=start-again]") is not null);
    }

    [Fact]
    public async Task A_free_plan_owner_is_told_why_GitHub_is_locked_and_who_unlocks_it()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Free);
        SignInAs(orgId, MemberRole.Owner, plan: Plan.Free);

        var page = RenderAt("/settings/github");
        page.WaitForElement("[data-testid=plan-required]", Wait);

        var lockText = Text(page, "plan-required");
        Assert.Contains("The GitHub integration needs the Pro plan", lockText);
        Assert.Contains("free plan", lockText);
        Assert.Equal("the people who run this SelfTune deployment", Text(page, "plan-contact"));
        Assert.True(page.Find("[data-testid=install-app]").HasAttribute("disabled"));
        Assert.DoesNotContain("only admins", page.Markup, StringComparison.OrdinalIgnoreCase);

        // GitHub's redirect back: the same reason, never "only admins and owners" for an owner.
        await DisposeComponentsAsync();
        page = RenderAt("/settings/github?installation_id=1&setup_action=install&state=x");
        page.WaitForElement("[data-testid=bind-error]", Wait);
        Assert.Equal("The GitHub integration needs the Pro plan", Text(page, "bind-error-title"));
        Assert.Contains("the people who run this SelfTune deployment", Text(page, "bind-error-message"));
        Assert.DoesNotContain("only admins", page.Markup, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_upgrade_by_an_operator_unlocks_the_page_before_the_sign_in_cookie_is_read_again()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Free);
        SignInAs(orgId, MemberRole.Owner, plan: Plan.Free); // the cookie still says free
        await App.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).ExecuteUpdateAsync(o => o.SetProperty(x => x.Plan, Plan.Pro)));

        var page = RenderAt("/settings/github");
        page.WaitForElement("[data-testid=install-app]", Wait);

        Assert.Empty(page.FindAll("[data-testid=plan-required]"));
        Assert.False(page.Find("[data-testid=install-app]").HasAttribute("disabled"));
    }

    [Fact]
    public async Task Configuration_wins_over_credentials_stored_by_the_manifest_flow()
    {
        await using var scope = App.Services.CreateAsyncScope();
        var stored = scope.ServiceProvider.GetRequiredService<StoredAppCredentials>();
        try
        {
            await stored.SaveAsync(Actor.System(await App.AcmeOrgIdAsync()), 1, "stored-app", gh.PrivateKeyPem, "stored-secret", null, CancellationToken.None);
        }
        catch (global::SelfTune.Admin.Infrastructure.ProblemException) { } // another run of this test in the fixture stored it already
        Assert.Equal("stored-app", (await stored.GetAsync(CancellationToken.None))!.AppSlug);

        var source = scope.ServiceProvider.GetRequiredService<SelfTune.Admin.GitHub.Client.IGitHubAppCredentialSource>();
        var credentials = await source.GetAsync(CancellationToken.None);
        Assert.Equal(gh.AppId, credentials!.AppId);
        Assert.Equal(gh.AppSlug, credentials.AppSlug);
        Assert.Equal(gh.WebhookSecret, credentials.WebhookSecret);
        Assert.Equal(GitHubAppOrigin.Configuration, await scope.ServiceProvider.GetRequiredService<GitHubAppCredentialSource>().GetOriginAsync(CancellationToken.None));
    }
}
