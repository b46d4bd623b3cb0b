using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using System.Net;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;

namespace SelfTune.Admin.Tests.Auth.Teams;

/// <summary>Issue 10: a person in several orgs switches between them; orgs are created, renamed, left and deleted; members removed.</summary>
public sealed class OrgsAndMembersTests(TeamsApp app) : IClassFixture<TeamsApp>
{
    Task<T> Orgs<T>(Func<OrgService, Task<T>> work) => app.WithAsync(s => work(s.GetRequiredService<OrgService>()));
    Task Orgs(Func<OrgService, Task> work) => app.WithAsync(async s => { await work(s.GetRequiredService<OrgService>()); return 0; });
    Task Members(Func<MemberService, Task> work) => app.WithAsync(async s => { await work(s.GetRequiredService<MemberService>()); return 0; });

    /// <summary><paramref name="owner"/>'s org with a new person joined as <paramref name="role"/>; that person's principal in it.</summary>
    async Task<ClaimsPrincipal> JoinAsync(ClaimsPrincipal owner, MemberRole role, string name)
    {
        var invitation = await app.WithAsync(s => s.GetRequiredService<InvitationService>().CreateAsync(owner, role, null));
        var person = await app.NewPersonAsync(name);
        await app.WithAsync(s => s.GetRequiredService<InvitationService>().AcceptAsync(person, invitation.LinkPath["/invite/".Length..]));
        return await app.InOrgAsync(person, owner.GetOrgId());
    }

    Task<ClaimsIdentity?> LandAsync(ClaimsPrincipal user) =>
        app.WithAsync(s => s.GetRequiredService<MemberDirectory>().LandAsync(user, CookieAuthenticationDefaults.AuthenticationScheme));

    [Fact]
    public async Task Sign_in_opens_the_org_chosen_last_and_makes_no_new_personal_org()
    {
        var subject = Guid.NewGuid().ToString("N");
        var first = await app.SignInAsync("Pat", subject: subject);
        var personal = first.GetOrgId();
        var team = await Orgs(o => o.CreateAsync(first, "Pat's team"));

        var second = await app.SignInAsync("Pat", subject: subject);
        Assert.Equal(team.Id, second.GetOrgId()); // created last, so chosen last

        await app.InOrgAsync(second, personal); // the switcher
        var third = await app.SignInAsync("Pat", subject: subject);
        Assert.Equal(personal, third.GetOrgId());
        Assert.Equal(2, (await Orgs(o => o.ListMineAsync(third))).Count);
        Assert.Equal(2, await app.WithDbAsync(db => db.Members.CountAsync(m => m.Subject == $"https://id.example|{subject}")));
    }

    [Fact]
    public async Task Switching_org_posts_a_form_re_issues_the_cookie_and_cannot_enter_someone_elses_org()
    {
        var pat = await app.NewPersonAsync("Pat");
        var team = await Orgs(o => o.CreateAsync(pat, $"Switch {Guid.NewGuid():N}"[..20]));
        pat = await app.InOrgAsync(pat, pat.GetOrgId()); // back in the personal org
        var stranger = await app.NewPersonAsync("Stranger");
        var browser = app.BrowserFor(pat);

        var noToken = await browser.SendAsync(HttpMethod.Post, "/account/switch-org", new() { ["orgId"] = team.Id.ToString() });
        Assert.Equal(HttpStatusCode.BadRequest, noToken.StatusCode);

        var foreign = await browser.PostFormAsync("/account/login", "/account/switch-org", new() { ["orgId"] = stranger.GetOrgId().ToString() });
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.DoesNotContain(await app.MembersOfAsync(stranger.GetOrgId()), m => m.Subject == pat.FindFirstValue(SelfTuneClaims.Subject));

        var cookieBefore = browser.Cookies["selftune.auth"];
        var switched = await browser.PostFormAsync("/account/login", "/account/switch-org", new() { ["orgId"] = team.Id.ToString() });
        Assert.Equal(HttpStatusCode.Redirect, switched.StatusCode);
        Assert.Equal("/", switched.Headers.Location!.OriginalString);
        Assert.NotEqual(cookieBefore, browser.Cookies["selftune.auth"]);
        Assert.Contains(team.Name, await (await browser.GetAsync("/")).Content.ReadAsStringAsync());

        // The choice survives signing in again.
        var again = await app.SignInAsync(pat.Identity!.Name!, subject: pat.FindFirstValue(SelfTuneClaims.Subject)!.Split('|')[1]);
        Assert.Equal(team.Id, again.GetOrgId());
    }

    [Fact]
    public async Task Creating_an_org_makes_the_creator_its_owner_on_the_default_plan()
    {
        var pat = await app.NewPersonAsync("Pat");
        var org = await Orgs(o => o.CreateAsync(pat, "  Research  "));

        Assert.Equal("Research", org.Name);
        Assert.StartsWith("research", org.Slug);
        Assert.Equal(Plan.Free, org.Plan);
        var owner = Assert.Single(await app.MembersOfAsync(org.Id));
        Assert.Equal((MemberRole.Owner, pat.FindFirstValue(SelfTuneClaims.Subject)), (owner.Role, owner.Subject));
        Assert.Equal(org.Id, (await LandAsync(pat))!.FindFirst(SelfTuneClaims.OrgId)!.Value is var id ? Guid.Parse(id) : default);
        var created = Assert.Single(await app.AuditOfAsync(org.Id), a => a.Action == "org.create");
        Assert.Equal(owner.Id, created.ActorId);
        var empty = await Assert.ThrowsAsync<ProblemException>(() => Orgs(o => o.CreateAsync(pat, " ")));
        Assert.Equal(400, empty.Status);
    }

    [Fact]
    public async Task Only_an_owner_renames_and_the_rename_is_audited()
    {
        var alice = await app.NewPersonAsync("Alice");
        var admin = await JoinAsync(alice, MemberRole.Admin, "Adam");

        var refused = await Assert.ThrowsAsync<ProblemException>(() => Orgs(o => o.RenameAsync(admin, "Taken over")));
        Assert.Equal(403, refused.Status);
        var before = (await Orgs(o => o.GetCurrentAsync(alice))).Name;
        await Orgs(o => o.RenameAsync(alice, "Acme Research"));

        Assert.Equal("Acme Research", (await Orgs(o => o.GetCurrentAsync(alice))).Name);
        var entry = Assert.Single(await app.AuditOfAsync(alice.GetOrgId()), a => a.Action == "org.rename");
        Assert.Equal($"name: {before} → Acme Research", entry.Summary);
    }

    [Fact]
    public async Task A_member_leaves_and_lands_in_another_org_the_last_owner_cannot_leave()
    {
        var alice = await app.NewPersonAsync("Alice");
        var mia = await JoinAsync(alice, MemberRole.Member, "Mia");
        var miasPersonal = (await Orgs(o => o.ListMineAsync(mia))).Single(o => o.Id != alice.GetOrgId()).Id;

        await Orgs(o => o.LeaveAsync(mia));

        Assert.DoesNotContain(await app.MembersOfAsync(alice.GetOrgId()), m => m.Id == mia.GetActorId());
        Assert.Equal(miasPersonal.ToString(), (await LandAsync(mia))!.FindFirst(SelfTuneClaims.OrgId)!.Value);
        var left = Assert.Single(await app.AuditOfAsync(alice.GetOrgId()), a => a.Action == "member.leave");
        Assert.Equal(mia.GetActorId(), left.ActorId);

        var lastOwner = await Assert.ThrowsAsync<ProblemException>(() => Orgs(o => o.LeaveAsync(alice)));
        Assert.Equal(409, lastOwner.Status);
        Assert.Contains("last owner", lastOwner.Message);
        Assert.Contains("make another member an owner", lastOwner.Message);
        Assert.Single(await app.MembersOfAsync(alice.GetOrgId()));
    }

    [Fact]
    public async Task Leaving_ones_only_org_lands_in_a_fresh_personal_org()
    {
        var alice = await app.NewPersonAsync("Alice");
        var mia = await JoinAsync(alice, MemberRole.Member, "Mia");
        var personal = (await Orgs(o => o.ListMineAsync(mia))).Single(o => o.Id != alice.GetOrgId());
        var miaInPersonal = await app.InOrgAsync(mia, personal.Id);
        await Orgs(o => o.DeleteAsync(miaInPersonal, personal.Name));
        await Orgs(o => o.LeaveAsync(mia));
        Assert.Empty(await Orgs(o => o.ListMineAsync(mia)));

        var landed = (await LandAsync(mia))!;

        var fresh = Assert.Single(await Orgs(o => o.ListMineAsync(new ClaimsPrincipal(landed))));
        Assert.Equal(fresh.Id.ToString(), landed.FindFirst(SelfTuneClaims.OrgId)!.Value);
        Assert.Equal(MemberRole.Owner, fresh.Role);
    }

    [Fact]
    public async Task Deleting_an_org_needs_its_owner_and_its_name_and_removes_its_data_but_keeps_the_audit_log()
    {
        var alice = await app.NewPersonAsync("Alice");
        var orgId = alice.GetOrgId();
        var admin = await JoinAsync(alice, MemberRole.Admin, "Adam");
        await app.WithAsync(s => s.GetRequiredService<InvitationService>().CreateAsync(alice, MemberRole.Viewer, null));
        await app.CreateKeyAsync(orgId, SelfTuneClaims.AllPermissions);
        var other = await app.NewPersonAsync("Bystander");
        await app.CreateKeyAsync(other.GetOrgId(), SelfTuneClaims.AllPermissions);
        var name = (await Orgs(o => o.GetCurrentAsync(alice))).Name;

        var byAdmin = await Assert.ThrowsAsync<ProblemException>(() => Orgs(o => o.DeleteAsync(admin, name)));
        Assert.Equal(403, byAdmin.Status);
        var wrongName = await Assert.ThrowsAsync<ProblemException>(() => Orgs(o => o.DeleteAsync(alice, name + "x")));
        Assert.Equal(400, wrongName.Status);
        Assert.Contains(name, wrongName.Message);

        await Orgs(o => o.DeleteAsync(alice, name));

        await app.WithDbAsync(async db =>
        {
            Assert.False(await db.Orgs.AnyAsync(o => o.Id == orgId));
            Assert.False(await db.Members.AnyAsync(m => m.OrgId == orgId));
            Assert.False(await db.Invitations.AnyAsync(i => i.OrgId == orgId));
            Assert.False(await db.ApiKeys.AnyAsync(k => k.OrgId == orgId));
            Assert.True(await db.ApiKeys.AnyAsync(k => k.OrgId == other.GetOrgId())); // other orgs untouched
            return 0;
        });
        var audit = await app.AuditOfAsync(orgId);
        Assert.Contains(audit, a => a.Action == "invitation.create");
        Assert.Equal(alice.Identity!.Name, Assert.Single(audit, a => a.Action == "org.delete").ActorName);
        // Adam lands in his own org.
        Assert.Single(await Orgs(o => o.ListMineAsync(admin)));
    }

    [Fact]
    public async Task Admins_remove_members_with_the_same_refusals_as_role_changes()
    {
        var alice = await app.NewPersonAsync("Alice");
        var orgId = alice.GetOrgId();
        var admin = await JoinAsync(alice, MemberRole.Admin, "Adam");
        var mia = await JoinAsync(alice, MemberRole.Member, "Mia");
        var vic = await JoinAsync(alice, MemberRole.Viewer, "Vic");

        foreach (var (who, target, status) in new[]
                 {
                     (vic, mia, 403), (mia, vic, 403), // only admins and owners
                     (admin, admin, 403),              // not yourself: leave instead
                     (admin, alice, 403),              // only owners remove owners
                 })
        {
            var refused = await Assert.ThrowsAsync<ProblemException>(() => Members(m => m.RemoveAsync(who, target.GetActorId())));
            Assert.Equal(status, refused.Status);
        }
        var self = await Assert.ThrowsAsync<ProblemException>(() => Members(m => m.RemoveAsync(alice, alice.GetActorId())));
        Assert.Contains("leave the org", self.Message);

        await Members(m => m.RemoveAsync(admin, mia.GetActorId()));

        Assert.DoesNotContain(await app.MembersOfAsync(orgId), m => m.Id == mia.GetActorId());
        var removed = Assert.Single(await app.AuditOfAsync(orgId), a => a.Action == "member.remove");
        Assert.Equal((admin.GetActorId(), mia.Identity!.Name), (removed.ActorId, removed.TargetName));
    }

    [Fact]
    public async Task The_last_owner_is_never_removed_even_by_an_owner_whose_page_is_out_of_date()
    {
        var alice = await app.NewPersonAsync("Alice");
        var otto = await JoinAsync(alice, MemberRole.Owner, "Otto");
        await Members(m => m.ChangeRoleAsync(otto, alice.GetActorId(), MemberRole.Admin)); // Alice's principal still says owner

        var refused = await Assert.ThrowsAsync<ProblemException>(() => Members(m => m.RemoveAsync(alice, otto.GetActorId())));

        Assert.Equal(409, refused.Status);
        Assert.Contains("last owner", refused.Message);
        Assert.Contains(await app.MembersOfAsync(alice.GetOrgId()), m => m.Id == otto.GetActorId());
    }

    [Fact]
    public async Task A_role_change_is_audited_with_before_and_after()
    {
        var alice = await app.NewPersonAsync("Alice");
        var mia = await JoinAsync(alice, MemberRole.Member, "Mia");

        await Members(m => m.ChangeRoleAsync(alice, mia.GetActorId(), MemberRole.Admin));

        var entry = Assert.Single(await app.AuditOfAsync(alice.GetOrgId()), a => a.Action == "member.role_change");
        Assert.Equal(("role: member → admin", mia.Identity!.Name, alice.Identity!.Name), (entry.Summary, entry.TargetName, entry.ActorName));
    }

    [Fact]
    public async Task A_removed_member_moves_to_another_of_their_orgs_at_the_next_cookie_check()
    {
        var alice = await app.NewPersonAsync("Alice");
        var mia = await JoinAsync(alice, MemberRole.Member, "Mia");
        var browser = app.BrowserFor(mia);
        await Members(m => m.RemoveAsync(alice, mia.GetActorId()));

        var response = await browser.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain((await Orgs(o => o.GetCurrentAsync(alice))).Name, await response.Content.ReadAsStringAsync());
    }
}
