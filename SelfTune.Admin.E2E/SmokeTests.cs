using System.Net.Http.Headers;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>The development sign-in and the API keys page in a real browser (the full journeys come with the E2E issue).</summary>
public sealed class SmokeTests(E2EApp app) : IClassFixture<E2EApp>
{
    [Fact]
    public async Task Developer_signs_in_creates_an_api_key_uses_it_and_revokes_it()
    {
        var page = await app.NewPageAsync();
        await page.GotoAsync("/");
        await Expect(page.GetByTestId("dev-signin-notice")).ToBeVisibleAsync();
        await E2EApp.ScreenshotAsync(page, "01-dev-signin");
        await page.GetByTestId("dev-signin").ClickAsync();

        await E2EApp.WaitForCircuitAsync(page);
        await Expect(page.GetByTestId("welcome")).ToContainTextAsync("Dev Developer");
        await Expect(page.GetByTestId("plan-badge")).ToContainTextAsync("pro");
        await E2EApp.ScreenshotAsync(page, "02-overview");

        await page.GotoAsync("/settings/api-keys");
        await E2EApp.WaitForCircuitAsync(page);
        await page.GetByTestId("create-key").ClickAsync();
        await page.Locator("input[data-testid=key-name], [data-testid=key-name] input").FillAsync("e2e script");
        await page.GetByTestId("key-submit").ClickAsync();
        var secretInput = page.Locator("input[data-testid=new-key-secret], [data-testid=new-key-secret] input");
        await Expect(secretInput).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("^st_live_[0-9A-Za-z]{43}$"));
        var secret = await secretInput.InputValueAsync();
        await E2EApp.ScreenshotAsync(page, "03-api-key-created");
        await page.GetByTestId("close-secret").ClickAsync();

        using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/api/v1/registry")).StatusCode);
        // Live: the use shows without a reload, on this key's row (another test's key may also read "just now", and a
        // click while this row re-renders for its own use would race that render).
        var row = page.GetByTestId("keys").Locator("tr").Filter(new() { HasText = "e2e script" });
        await Expect(row).ToContainTextAsync("just now");

        await row.GetByTestId("revoke-key").ClickAsync();
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Revoke", Exact = true }).ClickAsync();
        await Expect(page.Locator(".mud-dialog")).ToHaveCountAsync(0); // the confirmation was taken
        await Expect(row.GetByTestId("key-status")).ToHaveTextAsync("revoked");
        await E2EApp.ScreenshotAsync(page, "04-api-key-revoked");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync("/api/v1/registry")).StatusCode);
    }
}
