using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Auth.Teams;

/// <summary>
/// The app with a <see cref="FakeTimeProvider"/> (invitations expire), and people who sign in through the app's own
/// <see cref="MemberDirectory"/>, so their principals carry exactly the claims a real sign-in gives.
/// </summary>
public sealed class TeamsApp : AdminAppFactory
{
    /// <summary>Moves a second on each read, so steps happen in order ("chosen last" is by time), as they do on a real clock.</summary>
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 29, 12, 0, 0, TimeSpan.Zero)) { AutoAdvanceAmount = TimeSpan.FromSeconds(1) };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(s => s.AddSingleton<TimeProvider>(Clock));
    }

    /// <summary>A person signing in (a new one gets a personal org); <paramref name="emailVerified"/> as the provider says.</summary>
    public async Task<ClaimsPrincipal> SignInAsync(string name, string? email = null, bool emailVerified = true, string? subject = null)
    {
        await using var scope = Services.CreateAsyncScope();
        var person = new ExternalIdentity("https://id.example", subject ?? name.ToLowerInvariant(), name, email, emailVerified, []);
        return new ClaimsPrincipal(await scope.ServiceProvider.GetRequiredService<MemberDirectory>().SignInAsync(person, CookieAuthenticationDefaults.AuthenticationScheme));
    }

    /// <summary>A person with a unique name and subject, so tests sharing the app do not meet.</summary>
    public Task<ClaimsPrincipal> NewPersonAsync(string name, string? email = null, bool emailVerified = true) =>
        SignInAsync($"{name} {Guid.NewGuid().ToString("N")[..6]}", email, emailVerified, subject: Guid.NewGuid().ToString("N"));

    public async Task<T> WithAsync<T>(Func<IServiceProvider, Task<T>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        return await work(scope.ServiceProvider);
    }

    public Task<T> Service<T>(Func<T, Task> work) where T : notnull => WithAsync(async s =>
    {
        var service = s.GetRequiredService<T>();
        await work(service);
        return service;
    });

    public Task<List<Member>> MembersOfAsync(Guid orgId) => WithDbAsync(db => db.Members.AsNoTracking().Where(m => m.OrgId == orgId).ToListAsync());

    public Task<List<SelfTune.Admin.Audit.AuditEntry>> AuditOfAsync(Guid orgId) => WithDbAsync(db => db.AuditEntries.AsNoTracking().Where(a => a.OrgId == orgId).ToListAsync());

    /// <summary>The principal the app issues for <paramref name="user"/>'s person in <paramref name="orgId"/> (as after a switch).</summary>
    public Task<ClaimsPrincipal> InOrgAsync(ClaimsPrincipal user, Guid orgId) => WithAsync(async s =>
        new ClaimsPrincipal((await s.GetRequiredService<MemberDirectory>().SwitchAsync(user, orgId, CookieAuthenticationDefaults.AuthenticationScheme))
                            ?? throw new InvalidOperationException("Not a member of that org.")));

    /// <summary>A browser holding <paramref name="user"/>'s sign-in cookie, as the app's cookie handler writes it.</summary>
    public CookieBrowser BrowserFor(ClaimsPrincipal user)
    {
        var cookie = Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(CookieAuthenticationDefaults.AuthenticationScheme);
        var ticket = cookie.TicketDataFormat.Protect(new AuthenticationTicket(user, CookieAuthenticationDefaults.AuthenticationScheme));
        var browser = new CookieBrowser(CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false }));
        browser.Cookies[cookie.Cookie.Name!] = ticket;
        return browser;
    }
}

/// <summary>A browser that keeps its cookies in view, so a test can see the sign-in cookie being re-issued.</summary>
public sealed partial class CookieBrowser(HttpClient client)
{
    public Dictionary<string, string> Cookies { get; } = new();

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, Dictionary<string, string>? form = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (form is not null) request.Content = new FormUrlEncodedContent(form);
        if (Cookies.Count > 0) request.Headers.Add("Cookie", string.Join("; ", Cookies.Select(c => $"{c.Key}={c.Value}")));
        var response = await client.SendAsync(request);
        if (response.Headers.TryGetValues("Set-Cookie", out var setCookies))
            foreach (var setCookie in setCookies)
            {
                var pair = setCookie.Split(';')[0].Split('=', 2);
                if (setCookie.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase)) Cookies.Remove(pair[0]);
                else Cookies[pair[0]] = pair[1];
            }
        return response;
    }

    public Task<HttpResponseMessage> GetAsync(string url) => SendAsync(HttpMethod.Get, url);

    /// <summary>Reads a page's antiforgery token (and keeps its cookie), as a form on that page would post it.</summary>
    public async Task<string> AntiforgeryTokenAsync(string page)
    {
        var html = await (await GetAsync(page)).Content.ReadAsStringAsync();
        var match = HiddenToken().Match(html);
        Assert.True(match.Success, $"{page} has no antiforgery token");
        return WebUtility.HtmlDecode(match.Groups["value"].Value);
    }

    /// <summary>Posts a form the way the page's own form does, with a fresh token from <paramref name="page"/>.</summary>
    public async Task<HttpResponseMessage> PostFormAsync(string page, string action, Dictionary<string, string> fields)
    {
        fields["__RequestVerificationToken"] = await AntiforgeryTokenAsync(page);
        return await SendAsync(HttpMethod.Post, action, fields);
    }

    [GeneratedRegex("<input[^>]*name=\"__RequestVerificationToken\"[^>]*value=\"(?<value>[^\"]+)\"|<input[^>]*value=\"(?<value>[^\"]+)\"[^>]*name=\"__RequestVerificationToken\"")]
    private static partial Regex HiddenToken();
}
