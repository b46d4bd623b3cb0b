using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using SelfTune.Admin.Data;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>
/// Issue 10: an operator (by the provider's role claim) upgrades a free org to pro on /operator, and its owner, signed in
/// in another browser, can then set up GitHub. Its own app: the shared GitHub journeys need Bob's org on pro.
/// </summary>
public sealed class OperatorJourneyTests(GitHubE2EApp app) : IClassFixture<GitHubE2EApp>
{
    [Fact]
    public async Task An_operator_upgrades_a_free_org_and_its_owner_can_then_set_up_GitHub()
    {
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
            await db.Orgs.Where(o => o.Id == app.OtherOrgId).ExecuteUpdateAsync(o => o.SetProperty(x => x.Plan, Plan.Free));
        }

        // Bob owns "Other Org", on the free plan: GitHub is locked, and the page says why and who unlocks it.
        var bob = await app.SignInAsync(OidcProvider.Bob, "/settings/github");
        var planLock = bob.GetByTestId("plan-required");
        await Expect(planLock).ToContainTextAsync("The GitHub integration needs the Pro plan");
        await Expect(planLock).ToContainTextAsync("the people who run this SelfTune deployment");
        await Expect(bob.GetByTestId("install-app")).ToBeDisabledAsync();
        await Expect(bob.GetByTestId("nav-operator")).ToHaveCountAsync(0);
        await E2EApp.ScreenshotAsync(bob, "j10-01-free-org-locked");

        // Olivia's provider names her an operator: the Operator link, and every org with its plan.
        var olivia = await app.SignInAsync(OidcProvider.Olivia, "/");
        await olivia.GetByTestId("nav-operator").ClickAsync();
        await Expect(olivia).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/operator$"));
        var row = olivia.Locator("tr", new() { Has = olivia.Locator("[data-org-slug=other]") });
        await Expect(row.GetByTestId("plan-menu")).ToHaveTextAsync("free");
        await Expect(row.GetByTestId("owners")).ToContainTextAsync(OidcProvider.Bob.Name);
        await row.GetByTestId("plan-menu").ClickAsync();
        await olivia.GetByTestId("plan-pro").ClickAsync();
        await Expect(row.GetByTestId("plan-menu")).ToHaveTextAsync("pro");
        await E2EApp.ScreenshotAsync(olivia, "j10-02-operator-upgraded-org");

        // Bob's sign-in cookie still says free (it is read again every few minutes); the page reads the org: unlocked at once.
        await bob.GotoAsync("/settings/github");
        await E2EApp.WaitForCircuitAsync(bob);
        await Expect(bob.GetByTestId("install-app")).ToBeEnabledAsync();
        await Expect(bob.GetByTestId("plan-required")).ToHaveCountAsync(0);
        await E2EApp.ScreenshotAsync(bob, "j10-03-owner-can-install");
    }
}
