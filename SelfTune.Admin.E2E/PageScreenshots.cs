using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>
/// A full-page screenshot of every page, for review: light theme at 1280 px, plus the overview and the registry at 390 px
/// (a phone). Run alone with <c>dotnet test SelfTune.Admin.E2E --filter Category=Screenshots</c>; the PNGs land in
/// <c>SelfTune.Admin.E2E/bin/Debug/net10.0/screenshots/</c>. A page whose route does not exist (404) is skipped and
/// reported in the test output.
/// </summary>
[Trait("Category", "Screenshots")]
public sealed class PageScreenshots(E2EApp app, ITestOutputHelper output) : IClassFixture<E2EApp>
{
    [Fact]
    public async Task Every_page_at_1280_px_and_the_main_ones_at_390_px()
    {
        var seed = await E2ESeed.RegistryAsync(app);
        var page = await app.SignedInPageAsync();
        await ExpectLogoLoadedAsync(page);

        await ShotAsync(page, "/", "page-overview", "welcome");
        await ShotAsync(page, "/registry", "page-registry", "entries");

        await OpenAsync(page, $"/registry/{seed.EntryId}", "versions");
        await page.GetByTestId("manifest-toggle").ClickAsync();
        await Expect(page.GetByTestId("manifest-file").First).ToBeVisibleAsync();
        await SettleAsync(page);
        await E2EApp.ScreenshotAsync(page, "page-registry-entry");

        // The same page in the dark theme (kept for the browser session), to check contrast; then back to light.
        await page.GetByTestId("theme-toggle").ClickAsync();
        await page.Mouse.MoveAsync(640, 700); // no tooltip in the picture
        await SettleAsync(page);
        await E2EApp.ScreenshotAsync(page, "page-registry-entry-dark");
        await page.GetByTestId("theme-toggle").ClickAsync();

        await ShotAsync(page, $"/registry/{Guid.NewGuid()}", "page-registry-entry-not-found", "not-found");

        await OpenAsync(page, "/settings/api-keys", "keys");
        await page.GetByTestId("create-key").ClickAsync();
        await page.Locator("input[data-testid=key-name], [data-testid=key-name] input").FillAsync("Release pipeline");
        await page.GetByTestId("key-submit").ClickAsync();
        await Expect(page.Locator("input[data-testid=new-key-secret], [data-testid=new-key-secret] input")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("^st_live_"));
        await SettleAsync(page);
        await E2EApp.ScreenshotAsync(page, "page-api-keys-new-key");
        await page.GetByTestId("close-secret").ClickAsync();

        await ShotAsync(page, "/settings/members", "page-members", "members");
        await ShotAsync(page, "/settings/audit", "page-audit", "entries"); // the keys created above are its entries

        // Pages other work adds; until a route exists it answers 404 and its screenshot is skipped.
        foreach (var (path, name) in new[] { ("/connections", "page-connections"), ("/deliveries", "page-deliveries"), ("/settings/github", "page-settings-github") })
            await ShotAsync(page, path, name, readyTestId: null);

        var phone = await app.SignedInPageAsync(390, 844);
        await ExpectLogoLoadedAsync(phone);
        await ShotAsync(phone, "/", "phone-overview", "welcome");
        await ShotAsync(phone, "/registry", "phone-registry", "entries");
        await ShotAsync(phone, $"/registry/{seed.EntryId}", "phone-registry-entry", "versions");
        await OpenAsync(phone, "/", "welcome");
        await Expect(phone.GetByTestId("org")).ToBeHiddenAsync(); // the org's name hides on xs
        await phone.GetByTestId("nav-toggle").ClickAsync();
        await Expect(phone.Locator(".mud-drawer--open")).ToBeVisibleAsync();
        await SettleAsync(phone);
        await E2EApp.ScreenshotAsync(phone, "phone-navigation-open");
    }

    async Task ShotAsync(IPage page, string path, string name, string? readyTestId)
    {
        var response = await page.GotoAsync(path);
        if (response?.Status == 404 && readyTestId is null)
        {
            output.WriteLine($"Skipped {name}: {path} answers 404 (no such page yet).");
            return;
        }
        Assert.True(response?.Ok ?? true, $"{path} answered {response?.Status}");
        await E2EApp.WaitForCircuitAsync(page);
        if (readyTestId is not null) await Expect(page.GetByTestId(readyTestId).First).ToBeVisibleAsync();
        await SettleAsync(page);
        await E2EApp.ScreenshotAsync(page, name);
        output.WriteLine($"Saved {name}.png ({path})");
    }

    static async Task OpenAsync(IPage page, string path, string readyTestId)
    {
        await page.GotoAsync(path);
        await E2EApp.WaitForCircuitAsync(page);
        await Expect(page.GetByTestId(readyTestId).First).ToBeVisibleAsync();
    }

    /// <summary>Lets MudBlazor's transitions (dialogs, panels, drawer) finish so the picture is not mid-animation.</summary>
    static Task SettleAsync(IPage page) => page.WaitForTimeoutAsync(350);

    static async Task ExpectLogoLoadedAsync(IPage page)
    {
        var logo = page.GetByTestId("brand-logo");
        await Expect(logo).ToBeVisibleAsync();
        Assert.True(await logo.EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 0"), "The brand logo in the app bar did not load.");
    }
}
