using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Bunit;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Components.Pages.Registry;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Components;

/// <summary>Issue 13: "Import from GitHub" on the entry page, the github-direct import against the fake GitHub.</summary>
public sealed class ImportFromGitHubDialogTests(GitHubHarness h) : PageTestContext(h.App), IClassFixture<GitHubHarness>
{

    sealed record Setup(Guid OrgId, Guid EntryId, Fakes.FakeRepo Repo, string Sha);

    /// <summary>An org bound to an installation reaching one repository with <paramref name="files"/> on main, and an entry fed from it.</summary>
    async Task<Setup> SetUpAsync(string name, IDictionary<string, byte[]> files)
    {
        var (orgId, key) = await App.CreateOrgAsync(Plan.Pro);
        using var api = App.CreateClient(key);
        var installation = h.GitHub.AddInstallation(name + "-gh");
        var repo = h.GitHub.AddRepo(installation, installation.AccountLogin, "skills");
        var sha = h.GitHub.PushCommit(repo, "main", files);
        await h.BindAsync(api, installation);
        var created = await api.PostAsJsonAsync("/api/v1/registry", new { name, description = "imported", source_repo = repo.FullName });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var entryId = Guid.Parse((await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>());
        return new Setup(orgId, entryId, repo, sha);
    }

    static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..6];

    IRenderedComponent<ContainerFragment> OpenDialog(Setup s)
    {
        var page = RenderPage<EntryDetail>((nameof(EntryDetail.Id), s.EntryId));
        page.WaitForElement("[data-testid=import-from-github]").Click();
        // The entry's repository is chosen, with its default branch and its one skill folder.
        page.WaitForAssertion(() =>
        {
            Assert.Equal("main", page.InputOf("import-ref").GetAttribute("value"));
            Assert.Equal(".", page.InputOf("import-skill-path").GetAttribute("value"));
            Assert.Contains(s.Repo.FullName, page.Find("[data-testid=import-repo]").OuterHtml);
        }, PageSeed.Slow);
        return page;
    }

    [Fact]
    public async Task Admin_imports_a_tag_as_a_version_and_the_entry_page_lists_it()
    {
        var name = Unique("imported");
        var s = await SetUpAsync(name, GitHubHarness.Skill(name));
        h.GitHub.PushTag(s.Repo, "v1.4.0", s.Sha);
        SignInAs(s.OrgId, MemberRole.Admin);
        var page = OpenDialog(s);

        await InputAsync(page, () => page.InputOf("import-ref"), "v1.4.0");
        await InputAsync(page, () => page.InputOf("import-version-input"), "1.4.0");
        await ClickAsync(page, () => page.Find("[data-testid=import-submit]"));
        page.WaitForAssertion(() =>
        {
            var result = page.Find("[data-testid=import-result]");
            Assert.Equal("true", result.GetAttribute("data-created"));
            Assert.Equal("1.4.0", page.Find("[data-testid=import-version]").TextContent);
            Assert.Contains($"from {s.Repo.FullName} at v1.4.0", result.TextContent);
        }, PageSeed.Slow);

        var stored = await App.WithDbAsync(db => db.Versions.AsNoTracking().SingleAsync(v => v.EntryId == s.EntryId));
        Assert.Equal(("1.4.0", VersionSource.GithubDirect, "v1.4.0", s.Repo.FullName), (stored.Version, stored.Source, stored.SourceRef, stored.SourceRepo));

        // Done closes the dialog; the page already lists the version (live, no reload).
        await ClickAsync(page, () => page.Find("[data-testid=import-done]"));
        page.WaitForAssertion(() =>
        {
            Assert.Empty(page.FindAll(".mud-dialog"));
            Assert.Equal(["1.4.0"], page.FindAll("[data-testid=version]").Select(v => v.TextContent.Trim()));
        });
    }

    [Fact]
    public async Task The_default_branch_imports_as_the_commits_prerelease_and_a_second_import_changes_nothing()
    {
        var name = Unique("prerelease");
        var s = await SetUpAsync(name, GitHubHarness.Skill(name));
        SignInAs(s.OrgId, MemberRole.Owner);
        var page = OpenDialog(s);
        await ClickAsync(page, () => page.Find("[data-testid=import-submit]"));
        page.WaitForAssertion(() => Assert.Equal($"0.0.0-github.{s.Sha[..7]}", page.Find("[data-testid=import-version]").TextContent), PageSeed.Slow);
        await ClickAsync(page, () => page.Find("[data-testid=import-done]"));
        page.WaitForAssertion(() => Assert.Empty(page.FindAll(".mud-dialog")));

        await ClickAsync(page, () => page.Find("[data-testid=import-from-github]"));
        page.WaitForAssertion(() => Assert.Equal("main", page.InputOf("import-ref").GetAttribute("value")), PageSeed.Slow);
        await ClickAsync(page, () => page.Find("[data-testid=import-submit]"));
        page.WaitForAssertion(() =>
        {
            Assert.Equal("false", page.Find("[data-testid=import-result]").GetAttribute("data-created"));
            Assert.Contains("nothing changed", page.Find("[data-testid=import-result]").TextContent);
        }, PageSeed.Slow);
        Assert.Equal(1, await App.WithDbAsync(db => db.Versions.CountAsync(v => v.EntryId == s.EntryId)));
    }

    [Fact]
    public async Task A_skill_the_registry_refuses_shows_the_servers_message_and_publishes_nothing()
    {
        var name = Unique("leaky");
        var files = GitHubHarness.Skill(name);
        files["keys/id_rsa"] = "-----BEGIN OPENSSH PRIVATE KEY-----\n"u8.ToArray();
        var s = await SetUpAsync(name, files);
        SignInAs(s.OrgId, MemberRole.Admin);
        var page = OpenDialog(s);

        await ClickAsync(page, () => page.Find("[data-testid=import-submit]"));
        page.WaitForAssertion(() => Assert.Contains("keys/id_rsa looks like a secret", page.Find("[data-testid=import-error]").TextContent), PageSeed.Slow);
        Assert.Empty(page.FindAll("[data-testid=import-result]"));
        Assert.False(page.Find("[data-testid=import-submit]").HasAttribute("disabled")); // fix it on GitHub and try again
        Assert.False(await App.WithDbAsync(db => db.Versions.AnyAsync(v => v.EntryId == s.EntryId)));
    }

    [Fact]
    public async Task Members_are_not_offered_the_import()
    {
        var name = Unique("member-view");
        var s = await SetUpAsync(name, GitHubHarness.Skill(name));
        SignInAs(s.OrgId, MemberRole.Member);
        var page = RenderPage<EntryDetail>((nameof(EntryDetail.Id), s.EntryId));
        page.WaitForElement("[data-testid=entry-name]");
        Assert.Empty(page.FindAll("[data-testid=import-from-github]"));
    }
}
