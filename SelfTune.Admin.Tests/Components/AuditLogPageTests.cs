using Bunit;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Audit;
using SelfTune.Admin.Tests.Infrastructure;
using AuditLogPage = SelfTune.Admin.Components.Pages.Audit.AuditLog;

namespace SelfTune.Admin.Tests.Components;

/// <summary>/settings/audit: owners and admins read the log with filters; members and viewers are told who can.</summary>
public sealed class AuditLogPageTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{

    [Fact]
    public async Task Admin_reads_each_entry_and_filters_by_actor()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var now = DateTimeOffset.UtcNow;
        await App.AuditEntryAsync(AuditSeed.Member(orgId, "Ada Admin"), now.AddMinutes(-5), "connection.update", "connection", "acme/skills",
            "auto_publish: true → false");
        await App.AuditEntryAsync(AuditSeed.Key(orgId, "ci key"), now.AddMinutes(-1), "api_key.revoke", "api_key", "old key", "status: active → revoked");
        var (otherOrg, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.AuditEntryAsync(AuditSeed.Member(otherOrg, "Mallory"), now, "connection.delete", summary: "not yours");

        SignInAs(orgId, MemberRole.Admin);
        var page = RenderPage<AuditLogPage>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=entry-action]").Count));
        Assert.Equal(["api_key.revoke", "connection.update"], Texts(page, "entry-action")); // newest first
        Assert.Equal(["ci key", "Ada Admin"], Texts(page, "entry-actor"));
        Assert.Equal(["API key", "member"], Texts(page, "entry-actor-kind"));
        Assert.Equal(["old key", "acme/skills"], Texts(page, "entry-target"));
        Assert.Equal(["api_key", "connection"], Texts(page, "entry-target-type"));
        Assert.Equal(["status: active → revoked", "auto_publish: true → false"], Texts(page, "entry-summary"));
        Assert.Equal(["1 min ago", "5 min ago"], Texts(page, "entry-time"));
        Assert.DoesNotContain("Mallory", page.Markup);
        Assert.DoesNotContain("admins and owners", page.Markup);

        await InputAsync(page, () => page.InputOf("actor-filter"), "Ada Admin");
        page.WaitForAssertion(() => Assert.Equal(["connection.update"], Texts(page, "entry-action")));
        await InputAsync(page, () => page.InputOf("actor-filter"), "Nobody");
        page.WaitForAssertion(() => Assert.NotNull(page.Find("[data-testid=clear-filters]")));
        await ClickAsync(page, () => page.Find("[data-testid=clear-filters]"));
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=entry-action]").Count));
    }

    [Fact]
    public async Task Older_entries_load_below_the_newest()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var start = DateTimeOffset.UtcNow.AddDays(-1);
        var actor = AuditSeed.Member(orgId, "Ada");
        for (var i = 0; i < AuditLogPage.PageSize + 2; i++)
            await App.AuditEntryAsync(actor, start.AddMinutes(i), "connection.sync", targetName: $"acme/repo-{i:D2}");

        SignInAs(orgId, MemberRole.Owner);
        var page = RenderPage<AuditLogPage>();
        page.WaitForAssertion(() => Assert.Equal(AuditLogPage.PageSize, page.FindAll("[data-testid=entry-target]").Count));
        Assert.Equal($"acme/repo-{AuditLogPage.PageSize + 1:D2}", Texts(page, "entry-target")[0]);
        await ClickAsync(page, () => page.Find("[data-testid=load-older]"));
        page.WaitForAssertion(() => Assert.Equal(AuditLogPage.PageSize + 2, page.FindAll("[data-testid=entry-target]").Count));
        Assert.Equal(["acme/repo-01", "acme/repo-00"], Texts(page, "entry-target")[^2..]);
        Assert.Empty(page.FindAll("[data-testid=load-older]"));
    }

    [Theory]
    [InlineData(MemberRole.Member)]
    [InlineData(MemberRole.Viewer)]
    public async Task Members_and_viewers_are_told_only_admins_and_owners_read_it(MemberRole role)
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.AuditEntryAsync(AuditSeed.Member(orgId, "Ada"), DateTimeOffset.UtcNow, "connection.delete", summary: "secret-ish");

        SignInAs(orgId, role);
        var page = RenderPage<AuditLogPage>();
        page.WaitForAssertion(() => Assert.Contains("Only admins and owners can read the audit log", page.Find("[data-testid=admins-only]").TextContent));
        Assert.Contains($"your role is {role.ToString().ToLowerInvariant()}", page.Find("[data-testid=admins-only]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=entries]"));
        Assert.DoesNotContain("secret-ish", page.Markup);
    }

    [Fact]
    public async Task Owner_of_an_empty_log_is_told_what_will_appear()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Free);
        SignInAs(orgId, MemberRole.Owner, Plan.Free);
        var page = RenderPage<AuditLogPage>();
        page.WaitForAssertion(() => Assert.Contains("Nothing recorded yet", page.Find("[data-testid=empty]").TextContent));
        Assert.DoesNotContain("admins and owners", page.Markup);
        Assert.Empty(page.FindAll("[data-testid=admins-only]"));
    }

    static List<string> Texts(IRenderedComponent<ContainerFragment> page, string testId) =>
        page.FindAll($"[data-testid={testId}]").Select(e => e.TextContent.Trim()).ToList();
}
