using System.Security.Cryptography;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>The shell (brand assets, theme kept for the session, phone layout) and the registry's download in a real browser.</summary>
public sealed class LayoutAndRegistryTests(E2EApp app) : IClassFixture<E2EApp>
{
    [Fact]
    public async Task Brand_logo_and_favicon_load_and_the_dark_theme_survives_a_reload()
    {
        var page = await app.SignedInPageAsync();
        var logo = page.GetByTestId("brand-logo");
        await Expect(logo).ToBeVisibleAsync();
        Assert.True(await logo.EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 0"), "The logo did not load.");
        var favicon = await page.Locator("link[rel=icon]").GetAttributeAsync("href");
        var response = await page.APIRequest.GetAsync(favicon!);
        Assert.Equal(200, response.Status);
        Assert.Contains("<svg", await response.TextAsync());

        var light = await BackgroundAsync(page);
        await page.GetByTestId("theme-toggle").ClickAsync();
        await WaitUntilAsync(async () => await BackgroundAsync(page) != light, "the dark theme");
        var dark = await BackgroundAsync(page);

        await page.ReloadAsync();
        await E2EApp.WaitForCircuitAsync(page);
        await WaitUntilAsync(async () => await BackgroundAsync(page) == dark, "the dark theme after a reload");

        await page.GetByTestId("theme-toggle").ClickAsync();
        await WaitUntilAsync(async () => await BackgroundAsync(page) == light, "the light theme again");
    }

    [Fact]
    public async Task User_menu_opens_shows_who_is_signed_in_and_signs_out()
    {
        var page = await app.SignedInPageAsync();
        await Expect(page.GetByTestId("org-name")).ToHaveTextAsync("Acme");
        await page.GetByTestId("user-menu").ClickAsync();
        await Expect(page.GetByTestId("user-name")).ToHaveTextAsync("Dev Developer");
        await page.GetByTestId("sign-out").ClickAsync();
        await Expect(page.GetByTestId("signed-out")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task On_a_phone_the_org_name_hides_and_the_navigation_is_an_overlay()
    {
        var page = await app.SignedInPageAsync(390, 844);
        await Expect(page.GetByTestId("plan-badge")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("org")).ToBeHiddenAsync();
        await Expect(page.Locator(".mud-drawer--open")).ToHaveCountAsync(0);

        await page.GetByTestId("nav-toggle").ClickAsync();
        await Expect(page.Locator(".mud-drawer--open")).ToBeVisibleAsync();
        await page.Locator(".mud-drawer").GetByText("Registry").ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/registry$"));
        await Expect(page.Locator(".mud-drawer--open")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Entry_page_downloads_the_archive_with_the_sign_in_cookie()
    {
        var seed = await E2ESeed.RegistryAsync(app);
        var page = await app.SignedInPageAsync();
        await page.GotoAsync($"/registry/{seed.EntryId}");
        await E2EApp.WaitForCircuitAsync(page);
        var expectedHash = await page.GetByTestId("content-hash").InnerTextAsync();

        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("download-selected").ClickAsync());

        Assert.Equal($"{seed.EntryName}-1.2.0.tar.gz", download.SuggestedFilename);
        await using var stream = await download.CreateReadStreamAsync();
        Assert.Equal(expectedHash.Trim(), Convert.ToHexStringLower(await SHA256.HashDataAsync(stream)));
    }

    static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(5); DateTime.UtcNow < deadline; await Task.Delay(50))
            if (await condition()) return;
        Assert.Fail($"Timed out waiting for {what}.");
    }

    static Task<string> BackgroundAsync(IPage page) =>
        page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor");
}
