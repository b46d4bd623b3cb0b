using Bunit;
using SelfTune.Admin.Components.Pages.Registry;
using SelfTune.Admin.Data;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

public sealed class RegistryPagesTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{
    const string Sha = "3f9c2a1b7d4e5f60718293a4b5c6d7e8f9a0b1c2";
    const string SearchInput = "input[data-testid=search], [data-testid=search] input";

    [Fact]
    public async Task Empty_registry_says_how_to_publish()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        SignInAs(orgId);
        var page = RenderPage<RegistryEntries>();
        page.WaitForAssertion(() => Assert.Contains("No skills yet", page.Find("[data-testid=empty]").TextContent));
        Assert.Empty(page.FindAll("[data-testid=entries]"));
    }

    [Fact]
    public async Task Lists_the_orgs_entries_only_with_visibility_repository_and_latest_version()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var (otherOrgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var summarizer = await AddEntryAsync(orgId, "pdf-summarizer", Visibility.Public, "acme/skills", "Summarises PDFs.");
        await AddVersionAsync(summarizer, "1.0.0", VersionSource.Cli);
        await AddEntryAsync(orgId, "release-notes", Visibility.Unlisted, null, "Drafts release notes.");
        await AddEntryAsync(otherOrgId, "someone-elses-skill", Visibility.Public, "other/repo", "Not ours.");
        SignInAs(orgId);

        var page = RenderPage<RegistryEntries>();

        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=entry-link]").Count));
        Assert.Equal(["pdf-summarizer", "release-notes"], page.FindAll("[data-testid=entry-link]").Select(a => a.TextContent.Trim()));
        Assert.DoesNotContain("someone-elses-skill", page.Markup);
        Assert.Equal(["public", "unlisted"], page.FindAll("[data-testid=visibility]").Select(c => c.TextContent.Trim()));
        Assert.Equal("https://github.com/acme/skills", page.Find("[data-testid=source-repo]").GetAttribute("href"));
        Assert.Equal(["1.0.0", "—"], page.FindAll("[data-testid=latest-version]").Select(c => c.TextContent.Trim()));
    }

    [Fact]
    public async Task Search_filters_by_name_description_or_repository_and_says_when_nothing_matches()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await AddEntryAsync(orgId, "pdf-summarizer", Visibility.Org, "acme/skills", "Summarises PDFs.");
        await AddEntryAsync(orgId, "code-review", Visibility.Org, "acme/review", "Reviews diffs.");
        SignInAs(orgId);
        var page = RenderPage<RegistryEntries>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=entry-link]").Count));

        page.Find(SearchInput).Input("diffs");
        page.WaitForAssertion(() => Assert.Equal(["code-review"], page.FindAll("[data-testid=entry-link]").Select(a => a.TextContent.Trim())));

        page.Find(SearchInput).Input("acme/skills");
        page.WaitForAssertion(() => Assert.Equal(["pdf-summarizer"], page.FindAll("[data-testid=entry-link]").Select(a => a.TextContent.Trim())));

        page.Find(SearchInput).Input("nothing-like-this");
        page.WaitForAssertion(() => Assert.Contains("No skill matches", page.Find("[data-testid=no-matches]").TextContent));
        Assert.Empty(page.FindAll("[data-testid=entry-link]"));
    }

    [Fact]
    public async Task Entry_page_shows_versions_with_provenance_refs_and_the_latest_skill()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "pdf-summarizer", Visibility.Public, "acme/skills", "Summarises PDFs.");
        await AddVersionAsync(entry, "1.0.0", VersionSource.Cli, summary: "First release", markdown: Skill("# Version one"));
        await AddVersionAsync(entry, "1.1.0", VersionSource.Github, sourceRef: "v1.1.0", summary: "Tables", markdown: Skill("# Version one-one"));
        await AddVersionAsync(entry, "1.2.0-beta.1", VersionSource.GithubDirect, sourceRef: Sha, markdown: Skill("# Beta"));
        await SetLatestAsync(entry, "1.1.0");
        SignInAs(orgId);

        var page = RenderPage<EntryDetail>(("Id", entry));

        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=version]").Count));
        Assert.Equal("pdf-summarizer", page.Find("[data-testid=entry-name]").TextContent.Trim());
        // Newest first, each with its provenance.
        Assert.Equal(["1.2.0-beta.1", "1.1.0", "1.0.0"], page.FindAll("[data-testid=version]").Select(v => v.TextContent.Trim()));
        Assert.Equal(["github-direct", "github", "cli"], page.FindAll("[data-testid=versions] [data-testid=provenance]").Select(c => c.TextContent.Trim()));
        // A commit links to the commit, a tag to the tree; a cli push has no ref.
        var refs = page.FindAll("[data-testid=source-ref]");
        Assert.Equal(2, refs.Count);
        Assert.Equal($"https://github.com/acme/skills/commit/{Sha}", refs[0].GetAttribute("href"));
        Assert.Equal("3f9c2a1", refs[0].TextContent.Trim());
        Assert.Equal("https://github.com/acme/skills/tree/v1.1.0", refs[1].GetAttribute("href"));
        Assert.Contains("Tables", page.FindAll("[data-testid=change-summary]")[1].TextContent);

        // The latest version is selected: its SKILL.md, front matter, manifest and downloads.
        Assert.Equal("1.1.0", page.Find("[data-testid=selected-version]").TextContent.Trim());
        Assert.Contains("Version one-one", page.Find("[data-testid=skill-markdown]").InnerHtml);
        Assert.Equal("pdf-summarizer", page.Find("[data-testid=skill-name]").TextContent.Trim());
        Assert.Equal("Summarises PDFs.", page.Find("[data-testid=skill-description]").TextContent.Trim());
        Assert.Equal(["SKILL.md", "scripts/run.py"], page.FindAll("[data-testid=manifest-file] td:first-child").Select(td => td.TextContent.Trim()));
        var download = page.Find("a[data-testid=download-selected]");
        Assert.Equal($"/downloads/registry/{entry}/1.1.0", download.GetAttribute("href"));
        Assert.Equal("pdf-summarizer-1.1.0.tar.gz", download.GetAttribute("download")); // not intercepted by Blazor's router
        var curl = page.Find("[data-testid=curl] pre").TextContent;
        Assert.Contains($"/api/v1/registry/{entry}/versions/1.1.0/archive", curl);
        Assert.Contains("Authorization: Bearer $SELFTUNE_API_KEY", curl);
    }

    [Fact]
    public async Task Clicking_a_version_shows_its_skill()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "pdf-summarizer", Visibility.Org, null, "");
        await AddVersionAsync(entry, "1.0.0", VersionSource.Cli, markdown: Skill("# The first one"));
        await AddVersionAsync(entry, "2.0.0", VersionSource.Cli, markdown: Skill("# The second one"));
        await SetLatestAsync(entry, "2.0.0");
        SignInAs(orgId);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Contains("The second one", page.Find("[data-testid=skill-markdown]").InnerHtml));

        page.FindAll("[data-testid=versions] tbody tr")[1].Click();

        page.WaitForAssertion(() => Assert.Contains("The first one", page.Find("[data-testid=skill-markdown]").InnerHtml));
        Assert.Equal("1.0.0", page.Find("[data-testid=selected-version]").TextContent.Trim());
        Assert.Contains("/versions/1.0.0/archive", page.Find("[data-testid=curl] pre").TextContent);
    }

    [Fact]
    public async Task Skill_markdown_is_sanitised()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "hostile", Visibility.Org, null, "");
        await AddVersionAsync(entry, "1.0.0", VersionSource.Cli, markdown: Skill("""
            # Looks harmless

            <script>alert('owned')</script>

            <img src="x" onerror="alert('owned')">

            <iframe src="https://evil.example"></iframe>

            [click me](javascript:alert('owned')) and <a href="https://example.com" onclick="alert('owned')">a link</a>

            **bold** survives.
            """));
        SignInAs(orgId);

        var page = RenderPage<EntryDetail>(("Id", entry));

        page.WaitForAssertion(() => Assert.Contains("Looks harmless", page.Find("[data-testid=skill-markdown]").InnerHtml));
        var html = page.Find("[data-testid=skill-markdown]").InnerHtml;
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<iframe", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("onerror", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("onclick", html, StringComparison.OrdinalIgnoreCase);
        Assert.All(page.FindAll("[data-testid=skill-markdown] a"), a =>
            Assert.False(a.GetAttribute("href")?.StartsWith("javascript:", StringComparison.OrdinalIgnoreCase) ?? false, a.OuterHtml));
        Assert.DoesNotContain("<script", page.Markup, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<strong>bold</strong>", html);
        Assert.Contains("href=\"https://example.com\"", html);
    }

    [Fact]
    public async Task Another_orgs_entry_is_not_found_like_a_missing_one()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var (otherOrgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var theirs = await AddEntryAsync(otherOrgId, "their-skill", Visibility.Public, null, "Theirs.");
        await AddVersionAsync(theirs, "1.0.0", VersionSource.Cli, markdown: Skill("# Their secret notes"));
        SignInAs(orgId);

        var page = RenderPage<EntryDetail>(("Id", theirs));
        page.WaitForAssertion(() => Assert.Contains("There is no such entry in your org", page.Find("[data-testid=not-found]").TextContent));
        Assert.DoesNotContain("their-skill", page.Markup);
        Assert.DoesNotContain("Their secret notes", page.Markup);

        await DisposeComponentsAsync();
        var missing = RenderPage<EntryDetail>(("Id", Guid.NewGuid()));
        missing.WaitForAssertion(() => Assert.Single(missing.FindAll("[data-testid=not-found]")));
    }

    [Fact]
    public async Task Entry_without_versions_says_how_to_push_one()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "new-skill", Visibility.Org, null, "Nothing yet.");
        SignInAs(orgId);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Contains("No versions yet", page.Find("[data-testid=empty]").TextContent));
        Assert.Empty(page.FindAll("[data-testid=versions]"));
    }

    static string Skill(string body) => $"---\nname: pdf-summarizer\ndescription: Summarises PDFs.\n---\n{body}\n";

    Task<Guid> AddEntryAsync(Guid orgId, string name, Visibility visibility, string? repo, string description) => App.WithDbAsync(async db =>
    {
        var now = DateTimeOffset.UtcNow;
        var entry = new RegistryEntry
        {
            OrgId = orgId, Name = name, Description = description, Visibility = visibility, SourceRepo = repo,
            CreatedBy = Guid.NewGuid(), CreatedAt = now, UpdatedAt = now,
        };
        db.Entries.Add(entry);
        await db.SaveChangesAsync();
        return entry.Id;
    });

    Task AddVersionAsync(Guid entryId, string version, VersionSource source, string? sourceRef = null, string? summary = null, string? markdown = null) =>
        App.WithDbAsync(async db =>
        {
            var entry = db.Entries.Single(e => e.Id == entryId);
            // Published one after the other, so "newest first" is the order of the calls reversed.
            var publishedAt = DateTimeOffset.UtcNow.AddMinutes(db.Versions.Count(v => v.EntryId == entryId));
            db.Versions.Add(new SkillVersion
            {
                OrgId = entry.OrgId, EntryId = entryId, Version = version, ChangeSummary = summary, Source = source,
                SourceRef = sourceRef, SourceRepo = source == VersionSource.Cli ? null : entry.SourceRepo,
                ContentHash = new string('a', 64), Size = 2048, FileCount = 2,
                FileManifest = VersionResponse.SerializeManifest([new PackagedFile("SKILL.md", 120, new string('b', 64)), new PackagedFile("scripts/run.py", 40, new string('c', 64))]),
                SkillName = "pdf-summarizer", SkillDescription = "Summarises PDFs.", SkillMarkdown = markdown ?? Skill("# Skill"),
                CreatedBy = Guid.NewGuid(), PublishedAt = publishedAt,
            });
            entry.LatestVersion ??= version;
            return await db.SaveChangesAsync();
        });

    Task SetLatestAsync(Guid entryId, string version) => App.WithDbAsync(async db =>
    {
        db.Entries.Single(e => e.Id == entryId).LatestVersion = version;
        return await db.SaveChangesAsync();
    });
}
