using System.Security.Claims;
using Bunit;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Components.Layout;
using SelfTune.Admin.Components.Pages.Operator;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>Issue 10: /operator lists every org for the deployment's operators, changes plans and suspends; anyone else gets "not found".</summary>
public sealed class OperatorPageTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    void SignInAsOperator(Guid ownOrgId)
    {
        var id = Guid.NewGuid().ToString();
        Auth.SetAuthorized("Olivia Operator");
        Auth.SetClaims(
            new Claim(ClaimTypes.Name, "Olivia Operator"),
            new Claim(ClaimTypes.NameIdentifier, id),
            new Claim(SelfTuneClaims.OrgId, ownOrgId.ToString()),
            new Claim(SelfTuneClaims.ActorId, id),
            new Claim(SelfTuneClaims.Role, nameof(MemberRole.Owner)),
            new Claim(SelfTuneClaims.Plan, nameof(Plan.Free)),
            new Claim(SelfTuneClaims.Operator, "true"));
    }

    /// <summary>The table row of the org with <paramref name="slug"/>.</summary>
    static AngleSharp.Dom.IElement Row(IRenderedComponent<ContainerFragment> page, string slug) =>
        page.Find($"[data-org-slug='{slug}']").Closest("tr")!;

    async Task<(Guid Id, string Slug)> FreeOrgAsync()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Free);
        var slug = await App.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).Select(o => o.Slug).SingleAsync());
        await App.WithDbAsync(db =>
        {
            db.Members.Add(new Member { OrgId = orgId, Subject = "t|" + Guid.NewGuid(), Name = "Fran Free", Email = "fran@free.test", Role = MemberRole.Owner });
            return db.SaveChangesAsync();
        });
        return (orgId, slug);
    }

    [Fact]
    public async Task An_operator_sees_every_org_with_plan_owners_and_standing_and_upgrades_one()
    {
        var (orgId, slug) = await FreeOrgAsync();
        SignInAsOperator(await App.AcmeOrgIdAsync());

        var page = RenderPage<OperatorPage>();

        page.WaitForAssertion(() => Assert.NotNull(Row(page, slug)), Wait);
        var row = Row(page, slug);
        Assert.Equal("free", row.QuerySelector("[data-testid=plan-menu]")!.TextContent.Trim());
        Assert.Contains("Fran Free <fran@free.test>", row.QuerySelector("[data-testid=owners]")!.TextContent);
        Assert.Equal("1", row.QuerySelector("[data-testid=member-count]")!.TextContent.Trim());
        Assert.Contains("0 entries", row.QuerySelector("[data-testid=usage]")!.TextContent);
        Assert.NotNull(row.QuerySelector("[data-testid=active]"));
        Assert.Equal("pro", Row(page, "acme").QuerySelector("[data-testid=plan-menu]")!.TextContent.Trim());

        await page.InvokeAsync(() => Row(page, slug).QuerySelector("[data-testid=plan-menu]")!.Click());
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=plan-pro]")), Wait);
        await page.InvokeAsync(() => page.Find("[data-testid=plan-pro]").Click());

        page.WaitForAssertion(() => Assert.Equal("pro", Row(page, slug).QuerySelector("[data-testid=plan-menu]")!.TextContent.Trim()), Wait);
        Assert.Equal(Plan.Pro, await App.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).Select(o => o.Plan).SingleAsync()));
    }

    [Fact]
    public async Task An_operator_suspends_an_org_with_a_reason_and_lifts_it()
    {
        var (orgId, slug) = await FreeOrgAsync();
        SignInAsOperator(await App.AcmeOrgIdAsync());
        var page = RenderPage<OperatorPage>();
        page.WaitForAssertion(() => Assert.NotNull(Row(page, slug)), Wait);

        await page.InvokeAsync(() => Row(page, slug).QuerySelector("[data-testid=suspend]")!.Click());
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=suspend-reason]")), Wait);
        await page.InvokeAsync(() => page.InputOf("suspend-reason").Input("Spam reports"));
        await page.InvokeAsync(() => page.Find("[data-testid=suspend-confirm]").Click());

        page.WaitForAssertion(() => Assert.Contains("Spam reports", Row(page, slug).QuerySelector("[data-testid=suspended-reason]")!.TextContent), Wait);
        Assert.Equal("Spam reports", await App.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).Select(o => o.SuspendedReason).SingleAsync()));

        await page.InvokeAsync(() => Row(page, slug).QuerySelector("[data-testid=unsuspend]")!.Click());
        page.WaitForAssertion(() => Assert.NotNull(Row(page, slug).QuerySelector("[data-testid=active]")), Wait);
        Assert.Null(await App.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).Select(o => o.SuspendedAt).SingleAsync()));
    }

    [Fact]
    public async Task A_suspended_orgs_members_see_a_banner_with_the_reason_and_who_lifts_it()
    {
        var (orgId, _) = await FreeOrgAsync();
        SignInAs(orgId, MemberRole.Owner, plan: Plan.Free);
        await App.WithDbAsync(db => db.Orgs.Where(o => o.Id == orgId).ExecuteUpdateAsync(o => o
            .SetProperty(x => x.SuspendedAt, DateTimeOffset.UtcNow).SetProperty(x => x.SuspendedReason, "Unpaid invoice")));
        var banner = Render<SuspendedBanner>();

        banner.WaitForElement("[data-testid=suspended-banner]", Wait);
        var text = banner.Find("[data-testid=suspended-banner]").TextContent;
        Assert.Contains("Unpaid invoice", text);
        Assert.Contains("operator", text);
    }

    [Fact]
    public async Task Anyone_else_gets_not_found()
    {
        await FreeOrgAsync();
        SignInAs(await App.AcmeOrgIdAsync(), MemberRole.Owner);

        var page = RenderPage<OperatorPage>();

        page.WaitForElement("[data-testid=not-found]", Wait);
        Assert.Empty(page.FindAll("[data-testid=org-row]"));
        Assert.DoesNotContain("Fran Free", page.Markup);
    }
}
