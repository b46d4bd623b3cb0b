using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace SelfTune.Admin.E2E;

/// <summary>
/// The real app on a real Kestrel port with its own data folder, and Debian's Chromium driven by Playwright.
/// Screenshots go to the test output folder (bin/.../screenshots) so a run leaves them for review.
/// </summary>
public class E2EApp : WebApplicationFactory<Program>, IAsyncLifetime
{
    public string DataPath { get; } = Path.Combine(Path.GetTempPath(), "selftune-e2e", Guid.NewGuid().ToString("N"));
    public string BaseUrl { get; private set; } = "";
    public IBrowser Browser { get; private set; } = null!;
    IPlaywright? playwright;

    /// <summary>Set before the first use to sign in through this provider instead of the development sign-in.</summary>
    public OidcProvider? Oidc { get; set; }

    public static string ScreenshotDir => Path.Combine(AppContext.BaseDirectory, "screenshots");

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("Storage:DataPath", DataPath);
        builder.UseSetting("Authentication:Oidc:Authority", Oidc?.Authority ?? "");
        if (Oidc is not null)
        {
            builder.UseSetting("Authentication:Oidc:ClientId", OidcProvider.ClientId);
            builder.UseSetting("Authentication:Oidc:ClientSecret", OidcProvider.ClientSecret);
            builder.UseSetting("Authentication:Oidc:RequireHttpsMetadata", "false");
        }
    }

    public virtual async Task InitializeAsync()
    {
        // Playwright's 5 s default is short for background jobs on a loaded 2-core machine (at load 50 a sign-in round trip
        // and a circuit's start took over 10 s); a passing run never waits it out.
        Assertions.SetDefaultExpectTimeout(30_000);
        UseKestrel(0);
        StartServer();
        BaseUrl = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().Replace("[::]", "127.0.0.1");
        if (Oidc is not null) await Oidc.RegisterClientAsync(BaseUrl);
        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(ScreenshotDir);
    }

    public async Task<IPage> NewPageAsync(int width = 1280, int height = 800)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseUrl, ViewportSize = new() { Width = width, Height = height } });
        await context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"], new() { Origin = BaseUrl });
        // A first load of the API reference (a large script) on a busy 2-core machine has taken more than the default 30 s.
        context.SetDefaultNavigationTimeout(90_000);
        return await context.NewPageAsync();
    }

    /// <summary>A page signed in with the development sign-in (the seeded owner of org acme), on the overview.</summary>
    public async Task<IPage> SignedInPageAsync(int width = 1280, int height = 800)
    {
        var page = await NewPageAsync(width, height);
        await page.GotoAsync("/account/login?returnUrl=%2F");
        await page.GetByTestId("dev-signin").ClickAsync();
        await WaitForCircuitAsync(page);
        return page;
    }

    /// <summary>Blazor prerenders; clicks before the circuit is up are lost. blazor.web.js marks the document when it connects.</summary>
    public static async Task WaitForCircuitAsync(IPage page) =>
        await Assertions.Expect(page.Locator("html[data-circuit=ready]")).ToHaveCountAsync(1);

    /// <summary>
    /// A full-page PNG. The viewport grows to the content's height first: a plain full-page capture of a scrolled page draws
    /// the fixed app bar and drawer at the scroll position, in the middle of the picture.
    /// </summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        var viewport = page.ViewportSize;
        await page.EvaluateAsync("() => window.scrollTo(0, 0)");
        var height = await page.EvaluateAsync<int>("() => Math.ceil(document.documentElement.scrollHeight)");
        var grow = viewport is not null && height > viewport.Height;
        if (grow)
        {
            await page.SetViewportSizeAsync(viewport!.Width, height);
            await page.WaitForTimeoutAsync(100);
        }
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDir, name + ".png"), FullPage = true });
        if (grow) await page.SetViewportSizeAsync(viewport!.Width, viewport.Height);
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        if (Oidc is not null) await Oidc.DisposeAsync();
        await Browser.CloseAsync();
        playwright?.Dispose();
        await DisposeAsync(); // virtual: subclasses stop what they started (fake GitHub)
        try { Directory.Delete(DataPath, true); } catch (IOException) { }
    }
}
