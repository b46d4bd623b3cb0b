using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>
/// Issue 10's team journey, through the real OpenID Connect provider: Alice (owner of acme) invites Carol as a member
/// on the Members page and copies the link; Carol signs in with it and lands in acme, sees its connection but cannot
/// delete it; Alice makes her an admin; the audit log shows each step.
/// </summary>
public sealed class TeamJourneyTests(GitHubE2EApp app) : IClassFixture<GitHubE2EApp>
{
    [Fact]
    public async Task Owner_invites_a_teammate_who_joins_with_the_link_and_the_audit_log_shows_each_step()
    {
        var connectionId = await SeedConnectionAsync();

        // Alice invites Carol (her verified address) as a member and copies the link.
        var alice = await app.SignInAsync(OidcProvider.Alice, "/settings/members");
        await alice.GetByTestId("invite").ClickAsync();
        await alice.Locator("input[data-testid=invite-email], [data-testid=invite-email] input").FillAsync(OidcProvider.Carol.Email);
        await alice.GetByTestId("invite-submit").ClickAsync();
        var link = (await alice.GetByTestId("invite-link").Locator("pre").TextContentAsync())!.Trim();
        Assert.Matches(new Regex("^" + Regex.Escape(app.BaseUrl.TrimEnd('/')) + "/invite/[A-Za-z0-9_-]{43}$"), link);
        await Expect(alice.GetByTestId("invitation-email")).ToHaveTextAsync(OidcProvider.Carol.Email);
        await Expect(alice.GetByTestId("invitation-role")).ToHaveTextAsync("member");
        await E2EApp.ScreenshotAsync(alice, "team-01-invitation-link");

        // Carol opens the link signed out: the provider's sign-in, then the invitation, then Join lands her in acme.
        var carol = await app.NewPageAsync();
        await carol.GotoAsync(link);
        await carol.Locator("#user").SelectOptionAsync(OidcProvider.Carol.Subject);
        await carol.Locator("#sign-in").ClickAsync();
        await Expect(carol.GetByTestId("invitation-offer")).ToContainTextAsync("invited you to join Acme as a member");
        await E2EApp.ScreenshotAsync(carol, "team-02-invitation");
        await carol.GetByTestId("join").ClickAsync();
        await Expect(carol).ToHaveURLAsync(app.BaseUrl.TrimEnd('/') + "/");
        await E2EApp.WaitForCircuitAsync(carol);
        await Expect(carol.GetByTestId("org-name")).ToHaveTextAsync("Acme");

        // She sees acme's connection, without Delete; the service refuses her too.
        await carol.GotoAsync($"/connections/{connectionId}");
        await E2EApp.WaitForCircuitAsync(carol);
        await Expect(carol.GetByTestId("connection-title")).ToBeVisibleAsync();
        await Expect(carol.GetByTestId("delete-connection")).ToHaveCountAsync(0);
        await E2EApp.ScreenshotAsync(carol, "team-03-connection-as-member");
        var refused = await Assert.ThrowsAsync<ProblemException>(() => DeleteConnectionAsCarolAsync(connectionId));
        Assert.Equal(403, refused.Status);

        // Alice makes Carol an admin on the Members page.
        await alice.ReloadAsync();
        await E2EApp.WaitForCircuitAsync(alice);
        var carolsRow = alice.GetByTestId("members").Locator("tbody tr").Filter(new() { HasText = OidcProvider.Carol.Name });
        await carolsRow.GetByTestId("role-menu").ClickAsync();
        await alice.GetByTestId("role-admin").ClickAsync();
        await Expect(carolsRow.GetByTestId("role-menu")).ToHaveTextAsync("admin");
        await Expect(alice.GetByTestId("invitations")).ToHaveCountAsync(0); // used, so no longer pending

        // The audit log shows each step.
        await alice.GotoAsync("/settings/audit");
        await E2EApp.WaitForCircuitAsync(alice);
        foreach (var action in new[] { "invitation.create", "invitation.accept", "member.role_change" })
            await Expect(alice.GetByText(action, new() { Exact = true }).First).ToBeVisibleAsync();
        await E2EApp.ScreenshotAsync(alice, "team-04-audit-log");
    }

    /// <summary>A GitHub installation of acme with one connected repository, as the GitHub journeys create them.</summary>
    async Task<Guid> SeedConnectionAsync()
    {
        var installation = app.GitHub.AddInstallation("acme-team");
        var repo = app.GitHub.AddRepo(installation, "acme-team", "team-skill");
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var alice = await db.Members.SingleAsync(m => m.OrgId == app.AcmeOrgId && m.Name == OidcProvider.Alice.Name);
        var now = DateTimeOffset.UtcNow;
        var entry = new RegistryEntry { OrgId = app.AcmeOrgId, Name = "team-skill", Description = "A skill of the team.", CreatedBy = alice.Id, CreatedAt = now, UpdatedAt = now };
        db.Entries.Add(entry);
        db.Installations.Add(new GitHubInstallation
        {
            OrgId = app.AcmeOrgId, InstallationId = installation.Id, AccountLogin = "acme-team", AccountType = "Organization", CreatedBy = alice.Id, CreatedAt = now, UpdatedAt = now,
        });
        var connection = new GitHubConnection
        {
            OrgId = app.AcmeOrgId, EntryId = entry.Id, InstallationId = installation.Id, RepoId = repo.Id, RepoOwner = "acme-team", RepoName = "team-skill",
            CreatedBy = alice.Id, CreatedAt = now, UpdatedAt = now,
        };
        db.Connections.Add(connection);
        await db.SaveChangesAsync();
        return connection.Id;
    }

    async Task DeleteConnectionAsCarolAsync(Guid connectionId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var carol = await db.Members.AsNoTracking().SingleAsync(m => m.OrgId == app.AcmeOrgId && m.Name == OidcProvider.Carol.Name);
        var connection = await db.Connections.AsNoTracking().SingleAsync(c => c.Id == connectionId);
        var actor = new Actor(app.AcmeOrgId, carol.Id, carol.Role) { Name = carol.Name };
        await scope.ServiceProvider.GetRequiredService<ConnectionService>().DeleteAsync(actor, connection, CancellationToken.None);
    }
}
