using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;

namespace SelfTune.Admin.Tests.Auth.Teams;

/// <summary>Issue 10: owners and admins invite by link; a link is single-use, expires after 7 days, can be revoked, and may be bound to a verified e-mail.</summary>
public sealed class InvitationTests(TeamsApp app) : IClassFixture<TeamsApp>
{
    Task<CreatedInvitation> InviteAsync(ClaimsPrincipal by, MemberRole role = MemberRole.Member, string? email = null) =>
        app.WithAsync(s => s.GetRequiredService<InvitationService>().CreateAsync(by, role, email));

    Task<InvitationAcceptance> AcceptAsync(ClaimsPrincipal who, CreatedInvitation invitation) =>
        app.WithAsync(s => s.GetRequiredService<InvitationService>().AcceptAsync(who, Token(invitation)));

    static string Token(CreatedInvitation invitation) => invitation.LinkPath["/invite/".Length..];

    [Fact]
    public async Task Owner_invites_and_the_person_joins_with_the_role_and_lands_in_the_org_from_then_on()
    {
        var alice = await app.NewPersonAsync("Alice");
        var orgId = alice.GetOrgId();
        var invitation = await InviteAsync(alice, MemberRole.Member);

        // 32 random bytes, base64url, in the link; only the SHA-256 of the token is stored.
        var token = Token(invitation);
        Assert.Equal(43, token.Length);
        var stored = await app.WithDbAsync(db => Task.FromResult(db.Invitations.Single(i => i.Id == invitation.Invitation.Id)));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token))), stored.TokenHash);
        Assert.Equal(stored.CreatedAt + TimeSpan.FromDays(7), stored.ExpiresAt);

        var carol = await app.NewPersonAsync("Carol");
        var accepted = await AcceptAsync(carol, invitation);

        Assert.Equal(orgId, accepted.OrgId);
        Assert.Null(accepted.Refusal);
        var joined = Assert.Single(await app.MembersOfAsync(orgId), m => m.Subject == carol.FindFirstValue(SelfTuneClaims.Subject));
        Assert.Equal(MemberRole.Member, joined.Role);
        Assert.Equal(carol.Identity!.Name, joined.Name);
        var used = await app.WithDbAsync(db => Task.FromResult(db.Invitations.Single(i => i.Id == invitation.Invitation.Id)));
        Assert.Equal(joined.Id, used.AcceptedBy);

        // Her next sign-in opens the org she joined (it was chosen last), not her personal org.
        var again = await app.SignInAsync(carol.Identity!.Name!, subject: carol.FindFirstValue(SelfTuneClaims.Subject)!.Split('|')[1]);
        Assert.Equal(orgId, again.GetOrgId());
        Assert.Equal(MemberRole.Member, again.GetRole());

        var audit = await app.AuditOfAsync(orgId);
        var create = Assert.Single(audit, a => a.Action == "invitation.create");
        Assert.Equal(alice.Identity!.Name, create.ActorName);
        Assert.Contains("role: member", create.Summary);
        var accept = Assert.Single(audit, a => a.Action == "invitation.accept");
        Assert.Equal(joined.Id, accept.ActorId);
        Assert.Equal(carol.Identity!.Name, accept.ActorName);
    }

    [Fact]
    public async Task A_link_is_single_use_even_when_two_people_use_it_at_once()
    {
        var alice = await app.NewPersonAsync("Alice");
        var invitation = await InviteAsync(alice);
        var carol = await app.NewPersonAsync("Carol");
        var dave = await app.NewPersonAsync("Dave");

        var results = await Task.WhenAll(AcceptAsync(carol, invitation), AcceptAsync(dave, invitation));

        Assert.Single(results, r => r.OrgId == alice.GetOrgId());
        Assert.Single(results, r => r.Refusal == InvitationRefusal.Used);
        Assert.Equal(2, (await app.MembersOfAsync(alice.GetOrgId())).Count); // Alice and one of them
        Assert.Single(await app.AuditOfAsync(alice.GetOrgId()), a => a.Action == "invitation.accept");

        var later = await AcceptAsync(await app.NewPersonAsync("Erin"), invitation);
        Assert.Equal(InvitationRefusal.Used, later.Refusal);
    }

    [Fact]
    public async Task A_link_expires_after_seven_days()
    {
        var alice = await app.NewPersonAsync("Alice");
        var invitation = await InviteAsync(alice);
        var carol = await app.NewPersonAsync("Carol");
        var expiresAt = invitation.Invitation.CreatedAt + TimeSpan.FromDays(7);
        Assert.Equal(expiresAt, invitation.Invitation.ExpiresAt);

        // The service on a clock of this test's own: the app's moves a second on every read, and seven days of its
        // timers firing at once (background loops reading it) would move it by minutes while this test looks.
        var view = await app.WithAsync(s => At(s, expiresAt - TimeSpan.FromMinutes(1)).DescribeAsync(carol, Token(invitation)));
        Assert.Null(view!.Refusal); // still good a minute before

        var accepted = await app.WithAsync(s => At(s, expiresAt + TimeSpan.FromMinutes(1)).AcceptAsync(carol, Token(invitation)));

        Assert.Equal(InvitationRefusal.Expired, accepted.Refusal);
        Assert.Null(accepted.OrgId);
        Assert.Single(await app.MembersOfAsync(alice.GetOrgId()));
        Assert.DoesNotContain(await app.WithAsync(s => At(s, expiresAt + TimeSpan.FromMinutes(1)).ListPendingAsync(alice)), i => i.Id == invitation.Invitation.Id);
    }

    /// <summary>The app's invitation service on a clock that stands at <paramref name="now"/>.</summary>
    static InvitationService At(IServiceProvider services, DateTimeOffset now) =>
        new(services.GetRequiredService<IDbContextFactory<AdminDbContext>>(), new FakeTimeProvider(now));

    [Fact]
    public async Task A_revoked_link_is_refused_and_leaves_the_pending_list()
    {
        var alice = await app.NewPersonAsync("Alice");
        var invitation = await InviteAsync(alice, MemberRole.Viewer, "someone@example.com");
        var pending = await app.WithAsync(s => s.GetRequiredService<InvitationService>().ListPendingAsync(alice));
        var listed = Assert.Single(pending);
        Assert.Equal(("someone@example.com", MemberRole.Viewer, alice.Identity!.Name), (listed.Email, listed.Role, listed.InvitedBy));

        await app.WithAsync(async s => { await s.GetRequiredService<InvitationService>().RevokeAsync(alice, invitation.Invitation.Id); return 0; });

        Assert.Empty(await app.WithAsync(s => s.GetRequiredService<InvitationService>().ListPendingAsync(alice)));
        var accepted = await AcceptAsync(await app.NewPersonAsync("Someone", "someone@example.com"), invitation);
        Assert.Equal(InvitationRefusal.Revoked, accepted.Refusal);
        Assert.Single(await app.MembersOfAsync(alice.GetOrgId()));
        var revoke = Assert.Single(await app.AuditOfAsync(alice.GetOrgId()), a => a.Action == "invitation.revoke");
        Assert.Equal("someone@example.com", revoke.TargetName);
    }

    [Fact]
    public async Task An_e_mail_bound_link_needs_that_address_verified_by_the_provider()
    {
        var alice = await app.NewPersonAsync("Alice");
        var invitation = await InviteAsync(alice, MemberRole.Admin, "carol@example.com");

        var unverified = await AcceptAsync(await app.NewPersonAsync("Carol", "carol@example.com", emailVerified: false), invitation);
        Assert.Equal(InvitationRefusal.EmailUnverified, unverified.Refusal);
        var other = await AcceptAsync(await app.NewPersonAsync("Mallory", "mallory@example.com"), invitation);
        Assert.Equal(InvitationRefusal.EmailMismatch, other.Refusal);
        Assert.Single(await app.MembersOfAsync(alice.GetOrgId()));

        var carol = await app.NewPersonAsync("Carol", "Carol@Example.com");
        var accepted = await AcceptAsync(carol, invitation);
        Assert.Equal(alice.GetOrgId(), accepted.OrgId);
        Assert.Contains(await app.MembersOfAsync(alice.GetOrgId()), m => m.Role == MemberRole.Admin && m.Email == "Carol@Example.com");
    }

    [Fact]
    public async Task Only_owners_and_admins_invite_and_only_owners_invite_owners()
    {
        var alice = await app.NewPersonAsync("Alice");
        var orgId = alice.GetOrgId();
        foreach (var (role, name) in new[] { (MemberRole.Admin, "Adam"), (MemberRole.Member, "Mia"), (MemberRole.Viewer, "Vic") })
            await AcceptAsync(await app.NewPersonAsync(name), await InviteAsync(alice, role));
        var members = await app.MembersOfAsync(orgId);
        ClaimsPrincipal As(MemberRole role) => new(new ClaimsIdentity(
        [
            new Claim(SelfTuneClaims.OrgId, orgId.ToString()), new Claim(SelfTuneClaims.ActorId, members.Single(m => m.Role == role).Id.ToString()),
            new Claim(SelfTuneClaims.Role, role.ToString()), new Claim(ClaimTypes.Name, role.ToString()),
        ], "test"));

        var adminOwner = await Assert.ThrowsAsync<ProblemException>(() => InviteAsync(As(MemberRole.Admin), MemberRole.Owner));
        Assert.Equal(403, adminOwner.Status);
        Assert.DoesNotContain("only admins and owners", adminOwner.Message, StringComparison.OrdinalIgnoreCase);
        await InviteAsync(As(MemberRole.Admin), MemberRole.Admin);
        await InviteAsync(alice, MemberRole.Owner);
        foreach (var role in new[] { MemberRole.Member, MemberRole.Viewer })
        {
            var refused = await Assert.ThrowsAsync<ProblemException>(() => InviteAsync(As(role)));
            Assert.Equal(403, refused.Status);
            Assert.Contains("Only admins and owners can invite people", refused.Message);
        }
        var badEmail = await Assert.ThrowsAsync<ProblemException>(() => InviteAsync(alice, MemberRole.Member, "not an address"));
        Assert.Equal(400, badEmail.Status);
    }

    [Fact]
    public async Task A_member_using_a_link_to_their_own_org_just_switches_and_the_link_stays_unused()
    {
        var alice = await app.NewPersonAsync("Alice");
        var invitation = await InviteAsync(alice);

        var accepted = await AcceptAsync(alice, invitation);

        Assert.Equal(alice.GetOrgId(), accepted.OrgId);
        Assert.Single(await app.MembersOfAsync(alice.GetOrgId()));
        Assert.Single(await app.WithAsync(s => s.GetRequiredService<InvitationService>().ListPendingAsync(alice)));
    }

    [Fact]
    public async Task The_invitation_page_explains_unknown_used_and_e_mail_refusals_and_never_fails()
    {
        var alice = await app.NewPersonAsync("Alice");
        var invitation = await InviteAsync(alice, MemberRole.Member, "carol@example.com");
        var mallory = app.BrowserFor(await app.NewPersonAsync("Mallory", "mallory@example.com"));

        foreach (var path in new[] { "/invite/unknown-token", "/invite/" + new string('x', 5000), "/invite/%2F..%2F" })
        {
            var unknown = await mallory.GetAsync(path);
            Assert.True(unknown.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{path}: {unknown.StatusCode}");
        }
        var page = await (await mallory.GetAsync("/invite/unknown-token")).Content.ReadAsStringAsync();
        Assert.Contains("This invitation link is not valid", page);

        page = await (await mallory.GetAsync(invitation.LinkPath)).Content.ReadAsStringAsync();
        Assert.Contains("is for carol@example.com, but you are signed in with another verified address", page);
        Assert.DoesNotContain("data-testid=\"join\"", page);

        // Posting the token anyway is refused too, and goes back to the page that says why.
        var post = await mallory.PostFormAsync("/account/login", "/account/accept-invitation", new() { ["token"] = Token(invitation) });
        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Equal(invitation.LinkPath, post.Headers.Location!.OriginalString);
        Assert.Single(await app.MembersOfAsync(alice.GetOrgId()));
    }

    [Fact]
    public async Task Joining_in_the_browser_re_issues_the_cookie_for_the_org_and_a_second_use_is_explained()
    {
        var alice = await app.NewPersonAsync("Alice");
        var orgName = $"Team {Guid.NewGuid():N}"[..16];
        await app.WithAsync(async s => { await s.GetRequiredService<OrgService>().RenameAsync(alice, orgName); return 0; });
        var invitation = await InviteAsync(alice);
        var carol = app.BrowserFor(await app.NewPersonAsync("Carol"));

        var page = await (await carol.GetAsync(invitation.LinkPath)).Content.ReadAsStringAsync();
        Assert.Contains($"invited you to join <b>{orgName}</b> as a <b>member</b>", page);
        var post = await carol.PostFormAsync(invitation.LinkPath, "/account/accept-invitation", new() { ["token"] = Token(invitation) });

        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Equal("/", post.Headers.Location!.OriginalString);
        Assert.Contains(orgName, await (await carol.GetAsync("/")).Content.ReadAsStringAsync()); // the header names the org she is in now

        var dave = app.BrowserFor(await app.NewPersonAsync("Dave"));
        page = await (await dave.GetAsync(invitation.LinkPath)).Content.ReadAsStringAsync();
        Assert.Contains($"This invitation to {orgName} was already used", page);
    }

    [Fact]
    public async Task Signed_out_visitors_of_a_link_are_sent_to_sign_in_and_back()
    {
        var alice = await app.NewPersonAsync("Alice");
        var invitation = await InviteAsync(alice);
        var anonymous = new CookieBrowser(app.CreateClient(apiKey: null));

        var response = await anonymous.GetAsync(invitation.LinkPath);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Contains("/account/signin", response.Headers.Location!.OriginalString);
        Assert.Contains(Uri.EscapeDataString(invitation.LinkPath), response.Headers.Location!.OriginalString);
    }
}
