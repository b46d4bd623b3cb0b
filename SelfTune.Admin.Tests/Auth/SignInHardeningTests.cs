using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.WebUtilities;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>Return URLs that only look local, in hostile spellings (URL-encoded here so test names stay printable).</summary>
public static class HostileReturnUrls
{
    /// <summary>Every spelling; a NUL cannot be sent in a Location header.</summary>
    public static TheoryData<string> All => new(PostableValues.Append("%2F%00"));

    /// <summary>The spellings a form can carry (the form reader refuses a NUL in a value).</summary>
    public static TheoryData<string> Postable => new(PostableValues);

    static readonly string[] PostableValues =
    [
        "%2F%09%2Fevil.example",       // "/<tab>/evil.example": browsers drop the tab and follow "//evil.example"
        "%2F%0D%0A%2Fevil.example",    // CR LF, dropped the same way
        "%2F%2Fevil.example",          // protocol-relative
        "%2F%5Cevil.example",          // "/\evil.example": browsers read the backslash as a slash
        "https%3A%2F%2Fevil.example%2F",
    ];
}

/// <summary>Issue 8 item 5, development sign-in: a hostile returnUrl ends at "/", never at another site or a 500.</summary>
public sealed class DevelopmentSignInRedirectTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    HttpClient Browser() => factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    [Theory]
    [MemberData(nameof(HostileReturnUrls.Postable), MemberType = typeof(HostileReturnUrls))]
    public async Task The_development_form_sends_a_hostile_return_url_home(string encoded)
    {
        var browser = Browser();
        var post = await PostSignInAsync(browser, await BrowserSignInTests.AntiforgeryTokenAsync(browser), Uri.UnescapeDataString(encoded));

        Assert.Equal(HttpStatusCode.Redirect, post.StatusCode);
        Assert.Equal("/", post.Headers.Location!.OriginalString);
    }

    [Theory]
    [MemberData(nameof(HostileReturnUrls.All), MemberType = typeof(HostileReturnUrls))]
    public async Task Sign_in_passes_only_a_local_return_url_to_the_login_page(string encoded)
    {
        var signin = await Browser().GetAsync($"/account/signin?returnUrl={encoded}");

        Assert.Equal(HttpStatusCode.Redirect, signin.StatusCode);
        Assert.Equal("/account/login?returnUrl=%2F", signin.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task A_development_form_with_a_NUL_is_refused_as_a_bad_request()
    {
        var browser = Browser();
        var post = await PostSignInAsync(browser, await BrowserSignInTests.AntiforgeryTokenAsync(browser), "/\0");

        Assert.Equal(HttpStatusCode.BadRequest, post.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/")).StatusCode); // not signed in
    }

    [Fact]
    public async Task A_local_return_url_with_a_query_is_kept()
    {
        var browser = Browser();
        var post = await PostSignInAsync(browser, await BrowserSignInTests.AntiforgeryTokenAsync(browser), "/registry?name=a%20b");

        Assert.Equal("/registry?name=a%20b", post.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Sign_out_needs_the_antiforgery_token()
    {
        var browser = Browser();
        await PostSignInAsync(browser, await BrowserSignInTests.AntiforgeryTokenAsync(browser), "/");
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/")).StatusCode);

        // Another site's form (no token) cannot sign the browser out.
        var forged = await browser.PostAsync("/account/signout", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/")).StatusCode);

        // The app's own form carries a token issued to the signed-in user.
        var token = await BrowserSignInTests.AntiforgeryTokenAsync(browser);
        var signout = await browser.PostAsync("/account/signout", new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = token }));
        Assert.Equal(HttpStatusCode.Redirect, signout.StatusCode);
        Assert.Equal("/account/signed-out", signout.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/")).StatusCode);
    }

    static Task<HttpResponseMessage> PostSignInAsync(HttpClient browser, string token, string returnUrl) =>
        browser.PostAsync("/account/dev-signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["returnUrl"] = returnUrl,
        }));
}

/// <summary>
/// Issue 8 item 5 in production: the provider round trip carries only a local return URL, and a sign-in the provider
/// refused or that cannot be finished lands on a page that says so (never a 500).
/// </summary>
public sealed class OidcSignInHardeningTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    [Theory]
    [MemberData(nameof(HostileReturnUrls.All), MemberType = typeof(HostileReturnUrls))]
    public async Task The_provider_round_trip_returns_to_this_site_only(string encoded)
    {
        var state = await app.ChallengeAsync(app.Browser(), Uri.UnescapeDataString(encoded));

        // After the provider, the handler redirects to the state's RedirectUri.
        Assert.Equal("/", app.ReadState(state).RedirectUri);
    }

    [Fact]
    public async Task A_local_return_url_survives_the_round_trip()
    {
        var state = await app.ChallengeAsync(app.Browser(), "/connections?x=1");
        Assert.Equal("/connections?x=1", app.ReadState(state).RedirectUri);
    }

    [Fact]
    public async Task A_provider_error_without_a_state_shows_the_failure_page()
    {
        var response = await app.Browser().GetAsync("/signin-oidc?error=access_denied");
        AssertFailurePage(response, "denied", "/");
    }

    [Fact]
    public async Task A_garbage_state_shows_the_failure_page()
    {
        var response = await app.Browser().GetAsync("/signin-oidc?state=not-a-state&code=abc");
        AssertFailurePage(response, "interrupted", "/");
    }

    [Fact]
    public async Task A_correlation_failure_shows_the_failure_page_and_keeps_the_return_url()
    {
        var state = await app.ChallengeAsync(app.Browser(), "/registry");

        // Another browser (no correlation cookie) presents the state: a sign-in this browser never started.
        var response = await app.Browser().GetAsync($"/signin-oidc?state={Uri.EscapeDataString(state)}&code=abc");
        AssertFailurePage(response, "interrupted", "/registry");
    }

    [Fact]
    public async Task Access_denied_by_the_provider_explains_itself_and_offers_to_try_again()
    {
        var browser = app.Browser();
        var state = await app.ChallengeAsync(browser, "/registry");

        var callback = await browser.GetAsync($"/signin-oidc?error=access_denied&error_description=User+cancelled&state={Uri.EscapeDataString(state)}");
        AssertFailurePage(callback, "denied", "/registry");

        var page = await browser.GetAsync(callback.Headers.Location);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("data-testid=\"signin-failed\"", html);
        Assert.Contains("The sign-in was declined", html);
        Assert.Contains("You are not signed in.", html);
        Assert.Contains("href=\"/account/signin?returnUrl=%2Fregistry\"", html);
    }

    [Fact]
    public async Task The_failure_page_offers_only_a_local_return_url()
    {
        var html = await app.Browser().GetStringAsync("/account/signin-failed?reason=interrupted&returnUrl=%2F%09%2Fevil.example");
        Assert.Contains("The sign-in could not be finished", html);
        Assert.Contains("href=\"/account/signin?returnUrl=%2F\"", html);
    }

    static void AssertFailurePage(HttpResponseMessage response, string reason, string returnUrl)
    {
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"expected a redirect to the failure page, got {(int)response.StatusCode}");
        var location = response.Headers.Location!;
        Assert.Equal("/account/signin-failed", location.OriginalString.Split('?')[0]);
        var query = QueryHelpers.ParseQuery(location.OriginalString[location.OriginalString.IndexOf('?')..]);
        Assert.Equal(reason, query["reason"].ToString());
        Assert.Equal(returnUrl, query["returnUrl"].ToString());
    }
}
