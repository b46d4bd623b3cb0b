using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>Journey 1: sign-in through the OpenID Connect provider (code flow + PKCE) and sign-out.</summary>
public sealed class SignInJourneyTests(OidcApp app) : IClassFixture<OidcApp>
{
    [Fact]
    public async Task Unauthenticated_visit_goes_to_the_provider_signs_in_lands_on_overview_and_signs_out()
    {
        var page = await app.NewPageAsync();
        await page.GotoAsync("/registry");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(app.Oidc!.Authority) + "login"));
        await E2EApp.ScreenshotAsync(page, "j1-01-provider-login");
        await page.Locator("#user").SelectOptionAsync(OidcProvider.Alice.Subject);
        await page.Locator("#sign-in").ClickAsync();

        await Expect(page).ToHaveURLAsync(app.BaseUrl.TrimEnd('/') + "/registry");
        await E2EApp.WaitForCircuitAsync(page);
        await page.GotoAsync("/");
        await E2EApp.WaitForCircuitAsync(page);
        await Expect(page.GetByTestId("welcome")).ToContainTextAsync(OidcProvider.Alice.Name);
        await E2EApp.ScreenshotAsync(page, "j1-02-overview-signed-in");

        await page.GetByTestId("user-menu").ClickAsync();
        await page.GetByTestId("sign-out").ClickAsync();
        await Expect(page.GetByTestId("signed-out")).ToBeVisibleAsync();
        await E2EApp.ScreenshotAsync(page, "j1-03-signed-out");
        await page.GotoAsync("/");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(app.Oidc!.Authority)));
    }
}
