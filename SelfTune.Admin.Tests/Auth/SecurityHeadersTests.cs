using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>Issue 8 item 10 in production: headers on every answer, a CSP on pages, HSTS, Secure cookies.</summary>
public sealed partial class ProductionSecurityHeadersTests(ProductionApp app) : IClassFixture<ProductionApp>
{
    [Theory]
    [InlineData("/healthz")]
    [InlineData("/api/v1/registry")]          // a 401 problem answer
    [InlineData("/api/v1/no-such-endpoint")]  // a status-code page
    [InlineData("/account/signin-failed")]
    [InlineData("/no-such-page")]
    public async Task Every_answer_forbids_sniffing_and_sends_only_the_origin_to_other_sites(string path)
    {
        var response = await app.Browser().GetAsync(path);

        Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
        Assert.Equal("strict-origin-when-cross-origin", Header(response, "Referrer-Policy"));
    }

    [Fact]
    public async Task Pages_get_a_content_security_policy_whose_nonce_is_on_the_inline_scripts()
    {
        var response = await app.Browser().GetAsync("/account/signin-failed");
        var html = await response.Content.ReadAsStringAsync();

        var policy = Header(response, "Content-Security-Policy")!;
        Assert.Contains("default-src 'self'", policy);
        Assert.Contains("style-src 'self' 'unsafe-inline'", policy);
        Assert.Contains("connect-src 'self' ws: wss:", policy);
        Assert.Contains("frame-ancestors 'none'", policy);
        Assert.DoesNotContain("http", policy); // no other host
        var scripts = Regex.Match(policy, "script-src ([^;]*)").Groups[1].Value;
        Assert.DoesNotContain("unsafe-inline", scripts);
        var nonce = Regex.Match(scripts, "'nonce-([^']+)'").Groups[1].Value;
        Assert.NotEmpty(nonce);

        // Every inline script (the import map, the app's helpers) carries it; scripts with src come from 'self'.
        var inline = InlineScript().Matches(html);
        Assert.NotEmpty(inline);
        Assert.All(inline, m => Assert.Contains($"nonce=\"{nonce}\"", m.Value));

        var again = await app.Browser().GetAsync("/account/signin-failed");
        Assert.DoesNotContain(nonce, Header(again, "Content-Security-Policy")); // a new nonce per answer
    }

    [Fact]
    public async Task Api_answers_get_no_page_policy()
    {
        var response = await app.Browser().GetAsync("/api/v1/registry");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Null(Header(response, "Content-Security-Policy"));
    }

    [Fact]
    public async Task Https_answers_carry_HSTS()
    {
        var response = await app.Browser().GetAsync("/healthz");
        Assert.StartsWith("max-age=", Header(response, "Strict-Transport-Security"));
    }

    [Fact]
    public void Sign_in_and_antiforgery_cookies_are_Secure()
    {
        var auth = app.Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(CookieAuthenticationDefaults.AuthenticationScheme);
        Assert.Equal(CookieSecurePolicy.Always, auth.Cookie.SecurePolicy);
        Assert.Equal(CookieSecurePolicy.Always, app.Services.GetRequiredService<IOptions<AntiforgeryOptions>>().Value.Cookie.SecurePolicy);
    }

    static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? string.Join(", ", values) : null;

    [GeneratedRegex("<script(?![^>]*\\ssrc=)[^>]*>")]
    private static partial Regex InlineScript();
}

/// <summary>In Development (plain http) the same headers, but no HSTS and cookies that follow the request's scheme.</summary>
public sealed class DevelopmentSecurityHeadersTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    [Fact]
    public async Task Development_sends_the_headers_but_not_HSTS()
    {
        var response = await factory.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions
            { BaseAddress = new Uri("https://admin.example.test/") }).GetAsync("/account/login");

        Assert.True(response.Headers.Contains("X-Content-Type-Options"));
        Assert.True(response.Headers.Contains("Content-Security-Policy"));
        Assert.False(response.Headers.Contains("Strict-Transport-Security"));
        var auth = factory.Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(CookieAuthenticationDefaults.AuthenticationScheme);
        Assert.Equal(CookieSecurePolicy.SameAsRequest, auth.Cookie.SecurePolicy);
    }
}

/// <summary>Forwarded headers (ReverseProxy): off by default, believed only from the configured proxies.</summary>
public sealed class ReverseProxyTests
{
    static IConfiguration Config(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.ToDictionary(s => s.Key, s => (string?)s.Value)).Build();

    [Fact]
    public void Without_configuration_forwarded_headers_are_off()
    {
        Assert.Null(ReverseProxy.OptionsFrom(Config()));
    }

    [Fact]
    public void Proxies_and_networks_come_as_lists_or_comma_separated()
    {
        var options = ReverseProxy.OptionsFrom(Config(
            ("ForwardedHeaders:KnownProxies", "10.0.0.5, 10.0.0.6"),
            ("ForwardedHeaders:KnownNetworks:0", "192.168.0.0/16"),
            ("ForwardedHeaders:KnownNetworks:1", "fd00::/8")))!;

        Assert.Contains(IPAddress.Parse("10.0.0.5"), options.KnownProxies);
        Assert.Contains(IPAddress.Parse("10.0.0.6"), options.KnownProxies);
        Assert.Contains(System.Net.IPNetwork.Parse("192.168.0.0/16"), options.KnownIPNetworks);
        Assert.Contains(System.Net.IPNetwork.Parse("fd00::/8"), options.KnownIPNetworks);
    }

    [Theory]
    [InlineData("ForwardedHeaders:KnownProxies", "proxy.internal")]
    [InlineData("ForwardedHeaders:KnownNetworks", "10.0.0.0/99")]
    public void A_bad_entry_stops_start_up_and_names_itself(string key, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => ReverseProxy.OptionsFrom(Config((key, value))));
        Assert.Contains(key, error.Message);
        Assert.Contains(value, error.Message);
    }

    [Fact]
    public async Task The_scheme_is_taken_only_from_a_configured_proxy()
    {
        using var app = new ProductionApp();
        app.Settings["ForwardedHeaders:KnownProxies"] = "10.1.2.3";

        // TLS ends at the proxy; it calls the app over http and says so in X-Forwarded-Proto. HSTS shows the scheme the app saw.
        Task<HttpContext> FromAsync(string address) => app.Server.SendAsync(http =>
        {
            http.Request.Scheme = "http";
            http.Request.Host = new HostString("admin.example.test");
            http.Request.Path = "/healthz";
            http.Request.Headers["X-Forwarded-Proto"] = "https";
            http.Request.Headers["X-Forwarded-For"] = "203.0.113.7";
            http.Connection.RemoteIpAddress = IPAddress.Parse(address);
        });

        var proxied = await FromAsync("10.1.2.3");
        Assert.True(proxied.Response.Headers.ContainsKey("Strict-Transport-Security"));
        Assert.Equal(IPAddress.Parse("203.0.113.7"), proxied.Connection.RemoteIpAddress);

        var spoofed = await FromAsync("198.51.100.9");
        Assert.False(spoofed.Response.Headers.ContainsKey("Strict-Transport-Security"));
        Assert.Equal(IPAddress.Parse("198.51.100.9"), spoofed.Connection.RemoteIpAddress);
    }
}
