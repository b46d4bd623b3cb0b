using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Components.Pages.Registry;
using SelfTune.Admin.Data;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;
using SelfTune.Admin.Tests.Infrastructure;
using SelfTune.Admin.Tests.Registry;

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

        await InputAsync(page, () => page.Find(SearchInput), "diffs");
        page.WaitForAssertion(() => Assert.Equal(["code-review"], page.FindAll("[data-testid=entry-link]").Select(a => a.TextContent.Trim())));

        await InputAsync(page, () => page.Find(SearchInput), "acme/skills");
        page.WaitForAssertion(() => Assert.Equal(["pdf-summarizer"], page.FindAll("[data-testid=entry-link]").Select(a => a.TextContent.Trim())));

        await InputAsync(page, () => page.Find(SearchInput), "nothing-like-this");
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

        await ClickAsync(page, () => page.FindAll("[data-testid=versions] tbody tr")[1]);

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
    public async Task Prereleases_are_marked_and_the_versions_table_filters_releases_and_prereleases()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "pdf-summarizer", Visibility.Org, "acme/skills", "");
        await AddVersionAsync(entry, "1.0.0", VersionSource.Cli);
        await AddVersionAsync(entry, "0.0.0-github.0123456", VersionSource.Github, sourceRef: "0123456789abcdef0123456789abcdef01234567");
        await AddVersionAsync(entry, "1.1.0-beta.1", VersionSource.Cli);
        await SetLatestAsync(entry, "1.0.0");
        SignInAs(orgId);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=version]").Count));

        // Each prerelease row carries the mark; the release does not; the version text stays exactly the version.
        Assert.Equal(["1.1.0-beta.1", "0.0.0-github.0123456", "1.0.0"], Shown(page));
        Assert.Equal([true, true, false], page.FindAll("[data-testid=versions] tbody tr")
            .Select(r => r.QuerySelector("[data-testid=prerelease]") is not null));
        Assert.Equal("prerelease", page.Find("[data-testid=versions] [data-testid=prerelease]").TextContent.Trim());
        Assert.Empty(page.FindAll("[data-testid=latest-prerelease]")); // the latest is a release

        Assert.Contains("All (3)", page.Find("[data-testid=filter-all]").TextContent);
        await ClickAsync(page, () => page.Find("[data-testid=filter-releases]"));
        page.WaitForAssertion(() => Assert.Equal(["1.0.0"], Shown(page)));
        Assert.Contains("Releases (1)", page.Find("[data-testid=filter-releases]").TextContent);

        await ClickAsync(page, () => page.Find("[data-testid=filter-prereleases]"));
        page.WaitForAssertion(() => Assert.Equal(["1.1.0-beta.1", "0.0.0-github.0123456"], Shown(page)));
        Assert.Equal(2, page.FindAll("[data-testid=versions] [data-testid=prerelease]").Count);

        await ClickAsync(page, () => page.Find("[data-testid=filter-all]"));
        page.WaitForAssertion(() => Assert.Equal(3, Shown(page).Length));
    }

    [Fact]
    public async Task An_entry_with_only_prereleases_says_so_in_the_header_the_list_and_the_releases_filter()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "branch-only", Visibility.Org, "acme/skills", "");
        await AddVersionAsync(entry, "0.0.0-github.abcdef1", VersionSource.Github, sourceRef: "abcdef1234567890abcdef1234567890abcdef12");
        SignInAs(orgId);

        var list = RenderPage<RegistryEntries>();
        list.WaitForAssertion(() => Assert.Equal("0.0.0-github.abcdef1", list.Find("[data-testid=latest-version]").TextContent.Trim()));
        Assert.Single(list.FindAll("[data-testid=entries] [data-testid=prerelease]"));

        await DisposeComponentsAsync();
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=latest-prerelease]")));
        Assert.Single(page.FindAll("[data-testid=selected-prerelease]"));
        await ClickAsync(page, () => page.Find("[data-testid=filter-releases]"));
        page.WaitForAssertion(() => Assert.Contains("No releases yet", page.Find("[data-testid=no-versions-shown]").TextContent));
    }

    [Fact]
    public async Task A_long_change_summary_is_whole_on_hover_and_opens_in_place()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "verbose", Visibility.Org, null, "");
        var longSummary = "Rewrites the extraction step: " + string.Join(" ", Enumerable.Range(1, 40).Select(i => $"change{i}")) + ". The end.";
        await AddVersionAsync(entry, "1.0.0", VersionSource.Cli, summary: "Short one");
        await AddVersionAsync(entry, "2.0.0", VersionSource.Cli, summary: longSummary);
        await SetLatestAsync(entry, "2.0.0");
        SignInAs(orgId);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=change-summary]").Count));

        var summary = page.FindAll("[data-testid=change-summary]")[0];
        Assert.Equal(longSummary, summary.GetAttribute("title")); // hover
        Assert.Contains("selftune-clamp", summary.ClassName);
        Assert.Single(page.FindAll("[data-testid=summary-toggle]")); // only the long one has a toggle

        await ClickAsync(page, () => page.Find("[data-testid=summary-toggle]"));
        page.WaitForAssertion(() => Assert.Contains("selftune-prewrap", page.FindAll("[data-testid=change-summary]")[0].ClassName));
        Assert.Equal(longSummary, page.FindAll("[data-testid=change-summary]")[0].TextContent);
        Assert.Equal("Show less", page.Find("[data-testid=summary-toggle]").TextContent.Trim());
        Assert.Equal("2.0.0", page.Find("[data-testid=selected-version]").TextContent.Trim()); // the toggle is not a row click
        Assert.Equal(longSummary, page.Find("[data-testid=selected-change-summary]").TextContent); // and in the selected version's panel
    }

    [Fact]
    public async Task Secondary_sections_have_a_toggle_for_phones_and_keep_their_content_in_the_page()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "phone", Visibility.Org, null, "");
        await AddVersionAsync(entry, "1.0.0", VersionSource.Cli);
        SignInAs(orgId);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=script-panel]")));

        // CSS collapses them below 600 px (see SecondarySection.razor.css); the content is rendered either way.
        var toggle = page.Find("[data-testid=script-panel-toggle]");
        Assert.Equal("false", toggle.GetAttribute("aria-expanded"));
        Assert.Contains("/versions/1.0.0/archive", page.Find("[data-testid=curl] pre").TextContent);
        toggle.Click();
        page.WaitForAssertion(() => Assert.Equal("true", page.Find("[data-testid=script-panel-toggle]").GetAttribute("aria-expanded")));
        Assert.Equal("false", page.Find("[data-testid=provenance-panel-toggle]").GetAttribute("aria-expanded"));
    }

    static string[] Shown(IRenderedComponent<ContainerFragment> page) =>
        page.FindAll("[data-testid=version]").Select(v => v.TextContent.Trim()).ToArray();

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

    [Fact]
    public async Task A_version_published_while_the_list_is_open_updates_its_row_only()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var summarizer = await AddEntryAsync(orgId, "pdf-summarizer", Visibility.Org, "acme/skills", "Summarises PDFs.");
        await AddVersionAsync(summarizer, "1.0.0", VersionSource.Cli);
        var notes = await AddEntryAsync(orgId, "release-notes", Visibility.Org, null, "Drafts release notes.");
        SignInAs(orgId);
        var page = RenderPage<RegistryEntries>();
        page.WaitForAssertion(() => Assert.Equal(["1.0.0", "—"], page.FindAll("[data-testid=latest-version]").Select(c => c.TextContent.Trim())));

        // The other row changes in the database without news of it; then a version of the first is published.
        await App.WithDbAsync(db => db.Entries.Where(e => e.Id == notes).ExecuteUpdateAsync(u => u.SetProperty(e => e.Description, "Changed unannounced.")));
        var rows = page.FindComponents<MudBlazor.MudTr>().Skip(1).ToList(); // the header's row first
        var rowRenders = rows.Select(r => r.RenderCount).ToList();
        var ownCells = page.FindComponents<MudBlazor.MudTd>().Take(3).ToList(); // the first row's name, visibility, repository
        var ownCellRenders = ownCells.Select(c => c.RenderCount).ToList();
        await PublishThroughServiceAsync(summarizer, "1.1.0");

        page.WaitForAssertion(() => Assert.Equal(["1.1.0", "—"], page.FindAll("[data-testid=latest-version]").Select(c => c.TextContent.Trim())));
        Assert.Equal(["2", "0"], page.FindAll("[data-testid=version-count]").Select(c => c.TextContent.Trim()));
        Assert.DoesNotContain("Changed unannounced.", page.Markup); // only the published entry's row was read again
        // The row showed itself: the table did not render its rows again (a table's render renders every row).
        Assert.Equal(rowRenders, rows.Select(r => r.RenderCount).ToList());
        // The entry's name, visibility and repository did not change: those cells did not render either.
        Assert.Equal(ownCellRenders, ownCells.Select(c => c.RenderCount).ToList());

        await PublishThroughServiceAsync(notes, "0.1.0");
        page.WaitForAssertion(() => Assert.Equal(["1.1.0", "0.1.0"], page.FindAll("[data-testid=latest-version]").Select(c => c.TextContent.Trim())));
    }

    [Fact]
    public async Task An_entry_new_to_the_list_appears_in_its_place_when_its_first_version_is_published()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await AddEntryAsync(orgId, "release-notes", Visibility.Org, null, "Drafts release notes.");
        SignInAs(orgId);
        var page = RenderPage<RegistryEntries>();
        page.WaitForAssertion(() => Assert.Equal("1 of 1 skills", page.Find("[data-testid=total]").TextContent.Trim()));

        var created = await AddEntryAsync(orgId, "code-review", Visibility.Org, null, "Reviews diffs."); // e.g. by a connection's setup
        await PublishThroughServiceAsync(created, "1.0.0");

        page.WaitForAssertion(() => Assert.Equal(["code-review", "release-notes"], page.FindAll("[data-testid=entry-link]").Select(a => a.TextContent.Trim())));
        Assert.Equal("2 of 2 skills", page.Find("[data-testid=total]").TextContent.Trim());
        Assert.Equal(["1.0.0", "—"], page.FindAll("[data-testid=latest-version]").Select(c => c.TextContent.Trim()));
    }

    [Fact]
    public async Task A_version_published_while_the_entry_page_is_open_appears_and_becomes_latest_without_moving_the_reader()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "pdf-summarizer", Visibility.Org, "acme/skills", "Summarises PDFs.");
        await AddVersionAsync(entry, "1.0.0", VersionSource.Cli, markdown: Skill("# Version one"));
        var other = await AddEntryAsync(orgId, "release-notes", Visibility.Org, null, "Drafts release notes.");
        SignInAs(orgId);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Equal(["1.0.0"], page.FindAll("[data-testid=version]").Select(v => v.TextContent.Trim())));

        await PublishThroughServiceAsync(other, "3.0.0"); // another entry's version: not this page's
        await PublishThroughServiceAsync(entry, "1.1.0");

        page.WaitForAssertion(() => Assert.Equal(["1.1.0", "1.0.0"], page.FindAll("[data-testid=version]").Select(v => v.TextContent.Trim())));
        Assert.Contains("latest 1.1.0", page.Find("[data-testid=latest]").TextContent);
        Assert.Contains("All (2)", page.Find("[data-testid=filter-all]").TextContent);
        Assert.DoesNotContain("3.0.0", page.Markup);
        // The version the reader had open stays open.
        Assert.Equal("1.0.0", page.Find("[data-testid=selected-version]").TextContent.Trim());
        Assert.Contains("Version one", page.Find("[data-testid=skill-markdown]").TextContent);
    }

    // Through RegistryService, the one way every publish path (API push, GitHub connection, import) records a version.
    async Task PublishThroughServiceAsync(Guid entryId, string version)
    {
        await using var scope = App.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var entry = await services.GetRequiredService<AdminDbContext>().Entries.SingleAsync(e => e.Id == entryId);
        await using var staged = await services.GetRequiredService<ArchiveStore>().StageAsync(new MemoryStream(RegistryApiClient.SkillArchive(version)), default);
        SkillPackage package;
        await using (var read = staged.OpenRead()) package = await SkillArchive.ValidateAsync(read, PackagingLimits.Default);
        await services.GetRequiredService<RegistryService>().PublishAsync(entry, version, null, staged, package,
            new VersionProvenance(VersionSource.Cli, null, null), Guid.NewGuid(), default);
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
            entry.VersionCount++;
            return await db.SaveChangesAsync();
        });

    Task SetLatestAsync(Guid entryId, string version) => App.WithDbAsync(async db =>
    {
        db.Entries.Single(e => e.Id == entryId).LatestVersion = version;
        return await db.SaveChangesAsync();
    });
}
