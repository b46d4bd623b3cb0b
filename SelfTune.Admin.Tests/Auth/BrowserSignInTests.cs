using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.TestHost;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Time.Testing;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>SPEC section 2: with no OIDC authority in Development, the clearly labelled development sign-in.</summary>
public partial class BrowserSignInTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    /// <summary>A browser: keeps cookies, does not follow redirects (so each hop can be checked).</summary>
    HttpClient Browser() => factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    static string PathOf(Uri location) => location.IsAbsoluteUri ? location.AbsolutePath : location.OriginalString.Split('?')[0];

    [Fact]
    public async Task Unauthenticated_overview_redirects_to_sign_in()
    {
        var response = await Browser().GetAsync("/");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/account/signin", PathOf(response.Headers.Location!));
    }

    [Fact]
    public async Task Sign_in_goes_to_the_development_login_page_which_says_what_it_is()
    {
        var browser = Browser();

        var signin = await browser.GetAsync("/account/signin?returnUrl=%2Fregistry");
        Assert.Equal(HttpStatusCode.Redirect, signin.StatusCode);
        Assert.Equal("/account/login", PathOf(signin.Headers.Location!));
        Assert.Contains("returnUrl=%2Fregistry", signin.Headers.Location!.OriginalString);

        var login = await browser.GetAsync(signin.Headers.Location);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var html = await login.Content.ReadAsStringAsync();
        Assert.Contains("data-testid=\"dev-signin-notice\"", html);
        Assert.Contains("Development sign-in", html);
        Assert.Contains(DevelopmentSeed.UserName, html);
        Assert.Contains("only in the Development environment", html);
    }

    [Fact]
    public async Task Development_sign_in_signs_the_developer_in()
    {
        var browser = Browser();
        var token = await AntiforgeryTokenAsync(browser);

        var post = await browser.PostAsync("/account/dev-signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["returnUrl"] = "/",
        }));

        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Equal("/", PathOf(post.Headers.Location!));

        var overview = await browser.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, overview.StatusCode);
        var html = await overview.Content.ReadAsStringAsync();
        Assert.Contains("Dev Developer", html);
    }

    [Fact]
    public async Task Development_sign_in_only_redirects_to_local_urls()
    {
        var browser = Browser();
        var token = await AntiforgeryTokenAsync(browser);

        var post = await browser.PostAsync("/account/dev-signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["returnUrl"] = "//evil.example/x",
        }));

        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Equal("/", post.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Development_sign_in_without_the_antiforgery_token_does_not_sign_in()
    {
        var browser = Browser();

        var post = await browser.PostAsync("/account/dev-signin", new FormUrlEncodedContent(new Dictionary<string, string> { ["returnUrl"] = "/" }));

        Assert.True((int)post.StatusCode >= 400, $"expected a refusal, got {(int)post.StatusCode}");
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/")).StatusCode); // still signed out
    }

    [Fact]
    public async Task A_signed_in_browser_sees_member_changes_within_minutes_without_signing_in_again()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var app = factory.WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<TimeProvider>(clock)));
        var browser = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var html = await browser.GetStringAsync("/account/login?returnUrl=%2F");
        var token = WebUtility.HtmlDecode(HiddenToken().Match(html).Groups["value"].Value);
        var post = await browser.PostAsync("/account/dev-signin", new FormUrlEncodedContent(new Dictionary<string, string>
            { ["__RequestVerificationToken"] = token, ["returnUrl"] = "/" }));
        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Contains("Dev Developer", await browser.GetStringAsync("/"));

        var subject = $"{DevelopmentSeed.Issuer}|{DevelopmentSeed.Subject}";
        async Task Rename(string name) => await factory.WithDbAsync(async db =>
        {
            var member = db.Members.Single(m => m.Subject == subject);
            member.Name = name;
            return await db.SaveChangesAsync();
        });
        try
        {
            await Rename("Renamed Developer");
            Assert.Contains("Dev Developer", await browser.GetStringAsync("/")); // trusted for a few minutes
            clock.Advance(TimeSpan.FromMinutes(6));
            Assert.Contains("Renamed Developer", await browser.GetStringAsync("/")); // read again, no new sign-in
        }
        finally
        {
            await Rename(DevelopmentSeed.UserName);
        }
    }

    /// <summary>Loads the login page (setting the antiforgery cookie) and reads the form's hidden token.</summary>
    internal static async Task<string> AntiforgeryTokenAsync(HttpClient browser)
    {
        var html = await browser.GetStringAsync("/account/login?returnUrl=%2F");
        var input = HiddenToken().Match(html);
        Assert.True(input.Success, "the login form has no __RequestVerificationToken input");
        return WebUtility.HtmlDecode(input.Groups["value"].Value);
    }

    [GeneratedRegex("<input[^>]*name=\"__RequestVerificationToken\"[^>]*value=\"(?<value>[^\"]+)\"|<input[^>]*value=\"(?<value>[^\"]+)\"[^>]*name=\"__RequestVerificationToken\"")]
    private static partial Regex HiddenToken();
}
