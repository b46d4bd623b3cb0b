using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// A browser signed in to the app as a new member of any org: the member row is real and the sign-in cookie is the one the
/// app's cookie handler issues (its own ticket format and keys), so the app re-reads the member like any other.
/// </summary>
public static class SignedInBrowser
{
    /// <param name="subject">The person's OIDC subject (e.g. one listed in SelfTune:Operators); a new one when null.</param>
    public static async Task<(HttpClient Browser, Guid MemberId)> CreateAsync(AdminAppFactory app, Guid orgId, MemberRole role = MemberRole.Admin, string? subject = null)
    {
        var member = new Member { OrgId = orgId, Subject = "test|" + (subject ?? Guid.NewGuid().ToString("N")), Name = "Test " + role, Role = role, CreatedAt = DateTimeOffset.UtcNow };
        await app.WithDbAsync(db => { db.Members.Add(member); return db.SaveChangesAsync(); });
        await using var scope = app.Services.CreateAsyncScope();
        var identity = await scope.ServiceProvider.GetRequiredService<MemberDirectory>().RefreshAsync(member.Id, new ClaimsPrincipal(), CookieAuthenticationDefaults.AuthenticationScheme)
            ?? throw new InvalidOperationException("The member was not found.");
        var cookie = scope.ServiceProvider.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(CookieAuthenticationDefaults.AuthenticationScheme);
        var ticket = cookie.TicketDataFormat.Protect(new AuthenticationTicket(new ClaimsPrincipal(identity), CookieAuthenticationDefaults.AuthenticationScheme));
        var browser = app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false });
        browser.DefaultRequestHeaders.Add("Cookie", $"{cookie.Cookie.Name}={ticket}");
        return (browser, member.Id);
    }

    /// <summary>The org an API client's key belongs to.</summary>
    public static Task<Guid> OrgOfAsync(AdminAppFactory app, HttpClient api)
    {
        var hash = ApiKeyFormat.Hash(api.DefaultRequestHeaders.Authorization!.Parameter!);
        return app.WithDbAsync(db => Task.FromResult(db.ApiKeys.Single(k => k.Hash == hash).OrgId));
    }
}
