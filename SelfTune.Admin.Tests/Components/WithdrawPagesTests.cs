using Bunit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Components.Pages.Registry;
using SelfTune.Admin.Data;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// Issue 13, withdrawing without deleting, on the registry pages: the deprecation banner and chip, a yanked version's chip
/// and reason, the warnings a version was published with, and an owner's Yank / Un-yank / Deprecate; members see no buttons.
/// </summary>
public sealed class WithdrawPagesTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{
    const string UnknownKey = "SKILL.md front matter has a key the Agent Skills specification does not define ('user-invocable').";

    WithdrawalService Withdrawals => App.Services.GetRequiredService<WithdrawalService>();

    [Fact]
    public async Task Entry_page_shows_the_deprecation_banner_the_yanked_version_with_its_reason_and_the_warnings()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var owner = new Actor(orgId, Guid.NewGuid(), MemberRole.Owner);
        var entry = await AddEntryAsync(orgId, "pdf-tools");
        await AddVersionAsync(entry, "1.0.0", warnings: [UnknownKey, "SKILL.md names the skill \"pdf\" but the registry entry is \"pdf-tools\"."]);
        await AddVersionAsync(entry, "2.0.0");
        await Withdrawals.YankAsync(owner, entry, "2.0.0", "Leaks a token; use 1.0.0.");
        await Withdrawals.DeprecateAsync(owner, entry, "Use pdf-kit instead.");
        SignInAs(orgId, MemberRole.Viewer);

        var page = RenderPage<EntryDetail>(("Id", entry));

        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=version]").Count), PageSeed.Slow);
        Assert.Contains("This skill is deprecated", page.Find("[data-testid=deprecation-banner]").TextContent);
        Assert.Equal("Use pdf-kit instead.", page.Find("[data-testid=deprecation-message]").TextContent.Trim());
        Assert.Equal("deprecated", page.Find("[data-testid=deprecated]").TextContent.Trim());
        // Latest skips the yanked version; the yanked row says so, with its reason.
        Assert.Equal("latest 1.0.0", page.Find("[data-testid=latest]").TextContent.Trim());
        Assert.Equal("yanked", page.Find("[data-testid=yanked]").TextContent.Trim());
        Assert.Equal("Leaks a token; use 1.0.0.", page.Find("[data-testid=yanked-reason]").TextContent.Trim());
        Assert.Contains("2 warnings", page.Find("[data-testid=warnings]").TextContent);
        // The latest is selected, with its warnings listed whole.
        Assert.Equal("1.0.0", page.Find("[data-testid=selected-version]").TextContent.Trim());
        Assert.Equal(UnknownKey, page.FindAll("[data-testid=warning]")[0].TextContent.Trim());
        // The yanked version opens with why, and stays downloadable.
        await ClickAsync(page, () => page.FindAll("[data-testid=versions] tbody tr")[0]);
        page.WaitForAssertion(() => Assert.Contains("Leaks a token; use 1.0.0.", page.Find("[data-testid=selected-yanked]").TextContent));
        Assert.Equal($"/downloads/registry/{entry}/2.0.0", page.Find("a[data-testid=download-selected]").GetAttribute("href"));
        // A viewer reads it all and gets no buttons.
        Assert.Empty(page.FindAll("[data-testid=yank], [data-testid=unyank], [data-testid=deprecate], [data-testid=undeprecate]"));
    }

    [Fact]
    public async Task An_owner_yanks_with_a_reason_and_un_yanks_and_latest_follows()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "code-review");
        await AddVersionAsync(entry, "1.0.0");
        await AddVersionAsync(entry, "2.0.0");
        SignInAs(orgId, MemberRole.Owner);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Equal("latest 2.0.0", page.Find("[data-testid=latest]").TextContent.Trim()), PageSeed.Slow);

        await ClickAsync(page, () => page.FindAll("[data-testid=yank]")[0]); // newest first: 2.0.0
        page.WaitForAssertion(() => Assert.Contains("code-review 2.0.0 will no longer be chosen as latest", page.Find("[data-testid=withdraw-explanation]").TextContent));
        await InputAsync(page, () => page.Find("[data-testid=withdraw-text] textarea, textarea[data-testid=withdraw-text]"), "Breaks on Windows.");
        await ClickAsync(page, () => page.Find("[data-testid=withdraw-submit]"));

        page.WaitForAssertion(() => Assert.Equal("Breaks on Windows.", page.Find("[data-testid=yanked-reason]").TextContent.Trim()));
        Assert.Equal("latest 1.0.0", page.Find("[data-testid=latest]").TextContent.Trim());
        Assert.Equal("Breaks on Windows.", await App.WithDbAsync(db => db.Versions.Where(v => v.EntryId == entry && v.Version == "2.0.0").Select(v => v.YankedReason).SingleAsync()));

        await ClickAsync(page, () => page.Find("[data-testid=unyank]"));
        page.WaitForAssertion(() => Assert.Equal("latest 2.0.0", page.Find("[data-testid=latest]").TextContent.Trim()));
        Assert.Empty(page.FindAll("[data-testid=yanked]"));
    }

    [Fact]
    public async Task An_admin_deprecates_from_the_entry_page_and_removes_the_deprecation()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "release-notes");
        await AddVersionAsync(entry, "1.0.0");
        SignInAs(orgId, MemberRole.Admin);
        var page = RenderPage<EntryDetail>(("Id", entry));
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=deprecate]")), PageSeed.Slow);
        Assert.Empty(page.FindAll("[data-testid=deprecation-banner]"));

        await ClickAsync(page, () => page.Find("[data-testid=deprecate]"));
        page.WaitForAssertion(() => page.Find("[data-testid=withdraw-text] textarea, textarea[data-testid=withdraw-text]"));
        await InputAsync(page, () => page.Find("[data-testid=withdraw-text] textarea, textarea[data-testid=withdraw-text]"), "Merged into changelog.");
        await ClickAsync(page, () => page.Find("[data-testid=withdraw-submit]"));

        page.WaitForAssertion(() => Assert.Equal("Merged into changelog.", page.Find("[data-testid=deprecation-message]").TextContent.Trim()));
        Assert.Empty(page.FindAll("[data-testid=deprecate]"));
        Assert.Equal("Merged into changelog.", await App.WithDbAsync(db => db.Entries.Where(e => e.Id == entry).Select(e => e.DeprecationMessage).SingleAsync()));

        await ClickAsync(page, () => page.Find("[data-testid=undeprecate]"));
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("[data-testid=deprecation-banner]")));
    }

    [Fact]
    public async Task The_registry_list_shows_deprecated_entries_and_a_latest_that_skips_yanked_versions()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var admin = new Actor(orgId, Guid.NewGuid(), MemberRole.Admin);
        var entry = await AddEntryAsync(orgId, "summarizer");
        await AddVersionAsync(entry, "1.0.0");
        await AddVersionAsync(entry, "1.1.0");
        await Withdrawals.YankAsync(admin, entry, "1.1.0", "Wrong model.");
        await Withdrawals.DeprecateAsync(admin, entry, "Use summarizer-2.");
        SignInAs(orgId, MemberRole.Member);

        var list = RenderPage<RegistryEntries>();

        list.WaitForAssertion(() => Assert.Equal("1.0.0", list.Find("[data-testid=latest-version]").TextContent.Trim()), PageSeed.Slow);
        Assert.Equal("deprecated", list.Find("[data-testid=deprecated]").TextContent.Trim());
    }

    [Fact]
    public async Task A_member_gets_no_withdraw_buttons()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var entry = await AddEntryAsync(orgId, "member-view");
        await AddVersionAsync(entry, "1.0.0");
        SignInAs(orgId, MemberRole.Member);

        var page = RenderPage<EntryDetail>(("Id", entry));

        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=version]")), PageSeed.Slow);
        Assert.Single(page.FindAll("[data-testid=download]"));
        Assert.Empty(page.FindAll("[data-testid=yank], [data-testid=unyank], [data-testid=deprecate]"));
    }

    Task<Guid> AddEntryAsync(Guid orgId, string name) => App.WithDbAsync(async db =>
    {
        var now = DateTimeOffset.UtcNow;
        var entry = new RegistryEntry { OrgId = orgId, Name = name, CreatedBy = Guid.NewGuid(), CreatedAt = now, UpdatedAt = now };
        db.Entries.Add(entry);
        await db.SaveChangesAsync();
        return entry.Id;
    });

    // A version as a publish stores it; latest as RegistryService.ChooseLatest sets it (the versions are releases, added in order).
    Task AddVersionAsync(Guid entryId, string version, IReadOnlyList<string>? warnings = null) => App.WithDbAsync(async db =>
    {
        var entry = db.Entries.Single(e => e.Id == entryId);
        db.Versions.Add(new SkillVersion
        {
            OrgId = entry.OrgId, EntryId = entryId, Version = version, Source = VersionSource.Cli,
            ContentHash = new string('a', 64), Size = 2048, FileCount = 1,
            FileManifest = VersionResponse.SerializeManifest([new PackagedFile("SKILL.md", 120, new string('b', 64))]),
            SkillName = entry.Name, SkillDescription = "A skill.", SkillMarkdown = "---\nname: x\ndescription: A skill.\n---\n# Skill\n",
            CreatedBy = Guid.NewGuid(), PublishedAt = DateTimeOffset.UtcNow.AddMinutes(db.Versions.Count(v => v.EntryId == entryId)),
            Warnings = warnings is null ? null : System.Text.Json.JsonSerializer.Serialize(warnings),
        });
        entry.LatestVersion = version;
        entry.VersionCount++;
        return await db.SaveChangesAsync();
    });
}
