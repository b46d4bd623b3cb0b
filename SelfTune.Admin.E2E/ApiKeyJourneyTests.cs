using System.Net;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>Journey 5: an API key created in the browser works for a script until it is revoked in the browser.</summary>
[Collection(GitHubJourneys.Name)]
public sealed class ApiKeyJourneyTests(GitHubE2EApp app)
{
    [Fact]
    public async Task J5_Key_created_in_the_browser_is_copied_works_for_the_API_and_stops_working_once_revoked()
    {
        var page = await app.SignInAsync(OidcProvider.Alice, "/settings/api-keys");
        const string name = "Release pipeline";

        await page.GetByTestId("create-key").ClickAsync();
        await Input(page, "key-name").FillAsync(name);
        await Expect(Input(page, "perm-read")).ToBeCheckedAsync();
        await Expect(Input(page, "perm-push")).ToBeCheckedAsync();
        await E2EApp.ScreenshotAsync(page, "j5-01-create-key");
        await page.GetByTestId("key-submit").ClickAsync();

        // Shown once, with a copy button that puts it on the clipboard.
        var secretInput = Input(page, "new-key-secret");
        await Expect(secretInput).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("^st_live_[0-9A-Za-z]{40,}$"));
        await page.GetByTestId("copy-key").ClickAsync();
        await Expect(page.Locator(".mud-snackbar")).ToContainTextAsync("Copied to the clipboard.");
        var secret = await page.EvaluateAsync<string>("() => navigator.clipboard.readText()");
        Assert.Equal(await secretInput.InputValueAsync(), secret);
        await E2EApp.ScreenshotAsync(page, "j5-02-secret-shown-once");
        await page.GetByTestId("close-secret").ClickAsync();

        var row = page.GetByTestId("keys").Locator("tr").Filter(new() { HasText = name });
        await Expect(row.GetByTestId("key-status")).ToHaveTextAsync("active");
        await Expect(row).ToContainTextAsync(secret[..12]); // the visible prefix, never the whole key

        using var script = app.ApiClient(secret);
        using (var ok = await script.GetAsync("/api/v1/github/settings"))
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        // The page hears about the use without a reload.
        await Expect(row).ToContainTextAsync("just now");

        // Revoked in the browser (after a confirmation): the same call is refused.
        await row.GetByTestId("revoke-key").ClickAsync();
        await E2EApp.ScreenshotAsync(page, "j5-03-revoke-confirm");
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Revoke", Exact = true }).ClickAsync();
        await Expect(row.GetByTestId("key-status")).ToHaveTextAsync("revoked");
        await Expect(page.Locator(".mud-snackbar").Filter(new() { HasText = $"Revoked {name}." })).ToBeVisibleAsync();
        await Expect(row.GetByTestId("revoke-key")).ToHaveCountAsync(0);
        await E2EApp.ScreenshotAsync(page, "j5-04-revoked");

        using (var refused = await script.GetAsync("/api/v1/github/settings"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains(refused.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
        }
        await page.Context.CloseAsync();
    }

    static ILocator Input(IPage page, string testId) => page.Locator($"input[data-testid={testId}], [data-testid={testId}] input");
}
