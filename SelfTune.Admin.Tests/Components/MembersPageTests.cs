using System.Security.Claims;
using Bunit;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Components.Pages.Members;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

public sealed class MembersPageTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{
    [Fact]
    public async Task Lists_the_orgs_members_with_role_email_and_sign_in()
    {
        var org = await OrgAsync();
        var (otherOrgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await AddMemberAsync(otherOrgId, "Someone Else", MemberRole.Owner);
        SignInAs(org.Id, MemberRole.Viewer, memberId: org.Viewer);

        var page = RenderPage<Members>();

        page.WaitForAssertion(() => Assert.Equal(4, page.FindAll("[data-testid=member-name]").Count));
        // Owners first, then by role and name.
        Assert.Equal(["Olga Owner", "Adam Admin", "Mia Member", "Vic Viewer"], page.FindAll("[data-testid=member-name]").Select(n => n.TextContent.Trim()));
        Assert.DoesNotContain("Someone Else", page.Markup);
        Assert.Contains("olga@example.com", page.Markup);
        Assert.Equal(["owner", "admin", "member", "viewer"], page.FindAll("[data-testid=role]").Select(c => c.TextContent.Trim()));
        Assert.Contains("never", page.Markup); // Vic has not signed in yet
        Assert.Single(page.FindAll("[data-testid=me]"));
    }

    [Fact]
    public async Task Viewers_and_members_read_only()
    {
        var org = await OrgAsync();
        foreach (var (role, id) in new[] { (MemberRole.Viewer, org.Viewer), (MemberRole.Member, org.Member) })
        {
            await DisposeComponentsAsync();
            SignInAs(org.Id, role, memberId: id);
            var page = RenderPage<Members>();
            page.WaitForAssertion(() => Assert.Equal(4, page.FindAll("[data-testid=member-name]").Count));
            Assert.Empty(page.FindAll("[data-testid=role-menu]"));
            Assert.Single(page.FindAll("[data-testid=read-only]"));
        }
    }

    [Fact]
    public async Task Owner_changes_another_members_role_but_not_their_own()
    {
        var org = await OrgAsync();
        SignInAs(org.Id, MemberRole.Owner, memberId: org.Owner);
        var page = RenderPage<Members>();
        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=role-menu]").Count)); // everyone but the owner themself
        Assert.Equal("owner", page.Find("[data-testid=role]").TextContent.Trim());

        await ClickAsync(page, () => RoleMenuOf(page, "Mia Member"));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=role-admin]")));
        await ClickAsync(page, () => page.Find("[data-testid=role-admin]"));

        page.WaitForAssertion(() => Assert.Equal("admin", RoleMenuOf(page, "Mia Member").TextContent.Trim()));
        Assert.Empty(page.FindAll("[data-testid=error]"));
        Assert.Equal(MemberRole.Admin, await RoleOfAsync(org.Member));
    }

    [Fact]
    public async Task Admin_cannot_touch_owners_or_grant_the_owner_role()
    {
        var org = await OrgAsync();
        SignInAs(org.Id, MemberRole.Admin, memberId: org.Admin);
        var page = RenderPage<Members>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=role-menu]").Count)); // member and viewer

        await ClickAsync(page, () => RoleMenuOf(page, "Vic Viewer"));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=role-member]")));
        Assert.Empty(page.FindAll("[data-testid=role-owner]"));

        var service = Services.GetRequiredService<MemberService>();
        var admin = Principal(org.Id, org.Admin, MemberRole.Admin);
        var demote = await Assert.ThrowsAsync<ProblemException>(() => service.ChangeRoleAsync(admin, org.Owner, MemberRole.Viewer));
        Assert.Equal(403, demote.Status);
        var promote = await Assert.ThrowsAsync<ProblemException>(() => service.ChangeRoleAsync(admin, org.Viewer, MemberRole.Owner));
        Assert.Equal(403, promote.Status);
        Assert.Equal(MemberRole.Owner, await RoleOfAsync(org.Owner));
        Assert.Equal(MemberRole.Viewer, await RoleOfAsync(org.Viewer));
    }

    [Fact]
    public async Task The_last_owner_is_never_demoted_and_the_page_says_why()
    {
        // Two owners demote each other: the first wins, the second (whose page still says "owner") is refused.
        var org = await OrgAsync();
        var second = await AddMemberAsync(org.Id, "Otto Owner", MemberRole.Owner);
        var service = Services.GetRequiredService<MemberService>();
        await service.ChangeRoleAsync(Principal(org.Id, second, MemberRole.Owner), org.Owner, MemberRole.Admin);

        SignInAs(org.Id, MemberRole.Owner, memberId: org.Owner); // a principal from before the change
        var page = RenderPage<Members>();
        page.WaitForAssertion(() => Assert.NotNull(RoleMenuOf(page, "Otto Owner")));
        await ClickAsync(page, () => RoleMenuOf(page, "Otto Owner"));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=role-admin]")));
        await ClickAsync(page, () => page.Find("[data-testid=role-admin]"));

        page.WaitForAssertion(() => Assert.Contains("last owner", page.Find("[data-testid=error]").TextContent));
        Assert.Equal(MemberRole.Owner, await RoleOfAsync(second));
        Assert.Equal("owner", RoleMenuOf(page, "Otto Owner").TextContent.Trim());
    }

    [Fact]
    public async Task Service_refusals_own_role_viewer_and_other_org()
    {
        var org = await OrgAsync();
        var (otherOrgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var stranger = await AddMemberAsync(otherOrgId, "Stranger", MemberRole.Member);
        var service = Services.GetRequiredService<MemberService>();
        var owner = Principal(org.Id, org.Owner, MemberRole.Owner);

        var own = await Assert.ThrowsAsync<ProblemException>(() => service.ChangeRoleAsync(owner, org.Owner, MemberRole.Admin));
        Assert.Equal(403, own.Status);
        var viewer = await Assert.ThrowsAsync<ProblemException>(() =>
            service.ChangeRoleAsync(Principal(org.Id, org.Viewer, MemberRole.Viewer), org.Member, MemberRole.Viewer));
        Assert.Equal(403, viewer.Status);
        var other = await Assert.ThrowsAsync<ProblemException>(() => service.ChangeRoleAsync(owner, stranger, MemberRole.Viewer));
        Assert.Equal(404, other.Status);
        Assert.Equal(MemberRole.Member, await RoleOfAsync(stranger));

        // Demoting an owner while another owner remains is fine.
        var second = await AddMemberAsync(org.Id, "Otto Owner", MemberRole.Owner);
        var changed = await service.ChangeRoleAsync(owner, second, MemberRole.Member);
        Assert.Equal(MemberRole.Member, changed.Role);
        Assert.Equal(MemberRole.Member, await RoleOfAsync(second));
    }

    [Fact]
    public async Task Owners_see_pending_invitations_and_revoke_one_viewers_see_neither_invitations_nor_remove()
    {
        var org = await OrgAsync();
        var invitations = Services.GetRequiredService<InvitationService>();
        var owner = Principal(org.Id, org.Owner, MemberRole.Owner);
        await invitations.CreateAsync(owner, MemberRole.Admin, "carol@example.com");
        var link = await invitations.CreateAsync(owner, MemberRole.Viewer, null);

        SignInAs(org.Id, MemberRole.Viewer, memberId: org.Viewer);
        var page = RenderPage<Members>();
        page.WaitForAssertion(() => Assert.Equal(4, page.FindAll("[data-testid=member-name]").Count));
        Assert.Empty(page.FindAll("[data-testid=remove-member]"));
        Assert.Empty(page.FindAll("[data-testid=invitations]"));
        Assert.Empty(page.FindAll("[data-testid=invite]"));

        await DisposeComponentsAsync();
        SignInAs(org.Id, MemberRole.Owner, memberId: org.Owner);
        page = RenderPage<Members>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=invitations] tbody tr").Count));
        Assert.Equal(["Anyone with the link", "carol@example.com"], page.FindAll("[data-testid=invitation-email]").Select(e => e.TextContent.Trim()));
        Assert.Equal(["viewer", "admin"], page.FindAll("[data-testid=invitation-role]").Select(e => e.TextContent.Trim()));
        Assert.Equal(3, page.FindAll("[data-testid=remove-member]").Count); // everyone but the owner themself

        await ClickAsync(page, () => page.FindAll("[data-testid=revoke-invitation]")[0]);
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll(".mud-message-box button")));
        await ClickAsync(page, () => page.FindAll(".mud-message-box button").Single(b => b.TextContent.Contains("Revoke")));

        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=invitations] tbody tr")));
        Assert.Equal("carol@example.com", page.Find("[data-testid=invitation-email]").TextContent.Trim());
        Assert.Equal(InvitationRefusal.Revoked, (await invitations.DescribeAsync(owner, link.LinkPath["/invite/".Length..]))!.Refusal);
    }

    [Fact]
    public async Task Inviting_shows_the_link_once_and_lists_the_invitation()
    {
        var org = await OrgAsync();
        SignInAs(org.Id, MemberRole.Admin, memberId: org.Admin, name: "Adam Admin");
        var page = RenderPage<Members>();
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=invite]")));

        await ClickAsync(page, () => page.Find("[data-testid=invite]"));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll("[data-testid=invite-submit]")));
        await ClickAsync(page, () => page.Find("[data-testid=invite-submit]"));

        page.WaitForAssertion(() => Assert.Contains("/invite/", page.Find("[data-testid=invite-link] pre").TextContent));
        Assert.Matches("^http://localhost/invite/[A-Za-z0-9_-]{43}$", page.Find("[data-testid=invite-link] pre").TextContent.Trim());
        Assert.Equal("member", page.Find("[data-testid=invitation-role]").TextContent.Trim()); // the default role
    }

    [Fact]
    public async Task Removing_a_member_asks_first_and_takes_them_off_the_list()
    {
        var org = await OrgAsync();
        SignInAs(org.Id, MemberRole.Admin, memberId: org.Admin);
        var page = RenderPage<Members>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=remove-member]").Count)); // member and viewer, not the owner nor themself

        await ClickAsync(page, () => RowOf(page, "Vic Viewer").QuerySelector("[data-testid=remove-member]")!);
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll(".mud-message-box button")));
        await ClickAsync(page, () => page.FindAll(".mud-message-box button").Single(b => b.TextContent.Contains("Remove")));

        page.WaitForAssertion(() => Assert.Equal(3, page.FindAll("[data-testid=member-name]").Count));
        Assert.DoesNotContain("Vic Viewer", page.FindAll("[data-testid=member-name]").Select(n => n.TextContent.Trim()));
        Assert.Contains("Vic Viewer was removed", page.Markup);
        Assert.False(await App.WithDbAsync(db => Task.FromResult(db.Members.Any(m => m.Id == org.Viewer))));
    }

    static AngleSharp.Dom.IElement RowOf(IRenderedComponent<ContainerFragment> page, string name) =>
        page.FindAll("[data-testid=members] tbody tr").Single(tr => tr.QuerySelector("[data-testid=member-name]")!.TextContent.Trim() == name);

    static AngleSharp.Dom.IElement RoleMenuOf(IRenderedComponent<ContainerFragment> page, string name) =>
        page.FindAll("[data-testid=members] tbody tr")
            .Single(tr => tr.QuerySelector("[data-testid=member-name]")!.TextContent.Trim() == name)
            .QuerySelector("[data-testid=role-menu]")!;

    sealed record TestOrg(Guid Id, Guid Owner, Guid Admin, Guid Member, Guid Viewer);

    async Task<TestOrg> OrgAsync()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        return new TestOrg(orgId,
            await AddMemberAsync(orgId, "Olga Owner", MemberRole.Owner, signedIn: true),
            await AddMemberAsync(orgId, "Adam Admin", MemberRole.Admin, signedIn: true),
            await AddMemberAsync(orgId, "Mia Member", MemberRole.Member, signedIn: true),
            await AddMemberAsync(orgId, "Vic Viewer", MemberRole.Viewer));
    }

    Task<Guid> AddMemberAsync(Guid orgId, string name, MemberRole role, bool signedIn = false) => App.WithDbAsync(async db =>
    {
        var member = new Member
        {
            OrgId = orgId, Subject = $"test|{Guid.NewGuid():N}", Name = name, Email = $"{name.Split(' ')[0].ToLowerInvariant()}@example.com",
            Role = role, CreatedAt = DateTimeOffset.UtcNow.AddDays(-10), LastSignInAt = signedIn ? DateTimeOffset.UtcNow.AddHours(-2) : null,
        };
        db.Members.Add(member);
        await db.SaveChangesAsync();
        return member.Id;
    });

    Task<MemberRole> RoleOfAsync(Guid memberId) => App.WithDbAsync(db => Task.FromResult(db.Members.Single(m => m.Id == memberId).Role));

    static ClaimsPrincipal Principal(Guid orgId, Guid memberId, MemberRole role) => new(new ClaimsIdentity(
    [
        new Claim(SelfTuneClaims.OrgId, orgId.ToString()),
        new Claim(SelfTuneClaims.ActorId, memberId.ToString()),
        new Claim(SelfTuneClaims.Role, role.ToString()),
        new Claim(ClaimTypes.Name, "Olga Owner"),
    ], "test"));
}
