using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>
/// The Content-Security-Policy (Infrastructure/SecurityHeaders) leaves every page working: the browser reports no
/// violation while the pages load, connect their circuit and render, and the API reference still renders.
/// </summary>
public sealed class ContentSecurityPolicyTests(E2EApp app) : IClassFixture<E2EApp>
{
    /// <summary>Collects the browser's own violation reports (the init script runs before any page script, outside the policy).</summary>
    const string RecordViolations = """
        window.__cspViolations = [];
        document.addEventListener("securitypolicyviolation", e =>
            window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`));
        """;

    [Fact]
    public async Task Pages_and_the_api_reference_load_without_policy_violations()
    {
        var page = await app.NewPageAsync();
        await page.Context.AddInitScriptAsync(RecordViolations);
        await page.GotoAsync("/account/login?returnUrl=%2F");
        await AssertNoViolationsAsync(page, "/account/login");
        await page.GetByTestId("dev-signin").ClickAsync();
        await E2EApp.WaitForCircuitAsync(page);

        foreach (var path in new[] { "/", "/connections", "/registry", "/deliveries", "/settings/github", "/settings/api-keys", "/settings/members", "/settings/audit" })
        {
            await page.GotoAsync(path);
            await E2EApp.WaitForCircuitAsync(page); // the circuit's WebSocket and the interactive render work
            await AssertNoViolationsAsync(page, path);
        }

        await page.GotoAsync("/api-reference");
        await Expect(page.Locator(".scalar-app").First).ToBeVisibleAsync();
        // Scalar's schema validator probes whether it may compile code (Function("")) and, refused, works without it.
        await AssertNoViolationsAsync(page, "/api-reference", except: "script-src blocked eval");
    }

    /// <summary>Issue 14: the reference works with no internet — every request off loopback is refused, and it still renders whole.</summary>
    [Fact]
    public async Task The_api_reference_is_complete_with_every_request_off_loopback_blocked()
    {
        var page = await app.NewPageAsync();
        var blocked = new List<string>();
        await page.RouteAsync("**/*", async route =>
        {
            var host = new Uri(route.Request.Url).Host;
            if (host is "127.0.0.1" or "localhost") await route.ContinueAsync();
            else
            {
                lock (blocked) blocked.Add(route.Request.Url);
                await route.AbortAsync();
            }
        });
        await page.GotoAsync("/api-reference");
        await Expect(page.Locator(".scalar-app").First).ToBeVisibleAsync();
        // The introduction, an operation of each area, and the problem answers are on the page.
        await Expect(page.GetByText("Every error is").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Expect(page.GetByText("/api/v1/registry").First).ToBeAttachedAsync();
        var text = await page.Locator("body").InnerTextAsync();
        Assert.True(text.Contains("GitHub", StringComparison.Ordinal), text[..Math.Min(3000, text.Length)]);
        await Expect(page.GetByText("plan_required").First).ToBeAttachedAsync();
        Assert.Empty(await page.GetByText("Ask AI").AllAsync());
        lock (blocked) Assert.True(blocked.Count == 0, "The reference asked for: " + string.Join(", ", blocked));
    }

    static async Task AssertNoViolationsAsync(IPage page, string path, string? except = null)
    {
        var violations = (await page.EvaluateAsync<string[]>("() => window.__cspViolations"))
            .Where(v => except is null || !v.StartsWith(except)).ToList();
        Assert.True(violations.Count == 0, $"{path}: {string.Join("; ", violations)}");
    }
}
