using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Fakes;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>
/// The whole product as a user meets it: the app on a real port, browsers signed in through the OpenID Connect
/// provider, and the fake GitHub (API, install page, codeload) the app talks to through Octokit.
/// Alice is an owner of org acme (pro); Bob is an owner of another pro org.
/// </summary>
public sealed class GitHubE2EApp : E2EApp
{
    public FakeGitHub GitHub { get; private set; } = null!;
    public Guid AcmeOrgId { get; private set; }
    public Guid OtherOrgId { get; private set; }

    public override async Task InitializeAsync()
    {
        GitHub = await FakeGitHub.StartAsync();
        Oidc = await OidcProvider.StartAsync();
        await base.InitializeAsync();
        GitHub.SetupUrl = new Uri(BaseUrl.TrimEnd('/') + "/settings/github");
        // "Request user authorization (OAuth) during installation": GitHub sends the browser to the callback with a code.
        GitHub.CallbackUrl = new Uri(BaseUrl.TrimEnd('/') + "/settings/github/callback");

        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var issuer = Oidc.Authority.TrimEnd('/');
        var acme = db.Orgs.Single(o => o.Slug == "acme");
        var other = new Org { Slug = "other", Name = "Other Org", Plan = Plan.Pro, CreatedAt = DateTimeOffset.UtcNow };
        db.Orgs.Add(other);
        db.Members.Add(new Member { OrgId = acme.Id, Subject = $"{issuer}|{OidcProvider.Alice.Subject}", Name = OidcProvider.Alice.Name, Email = OidcProvider.Alice.Email, Role = MemberRole.Owner, CreatedAt = DateTimeOffset.UtcNow });
        db.Members.Add(new Member { OrgId = other.Id, Subject = $"{issuer}|{OidcProvider.Bob.Subject}", Name = OidcProvider.Bob.Name, Email = OidcProvider.Bob.Email, Role = MemberRole.Owner, CreatedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync();
        AcmeOrgId = acme.Id;
        OtherOrgId = other.Id;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("GitHub:AppId", GitHub.AppId.ToString());
        builder.UseSetting("GitHub:AppSlug", GitHub.AppSlug);
        builder.UseSetting("GitHub:PrivateKey", GitHub.PrivateKeyPem);
        builder.UseSetting("GitHub:WebhookSecret", GitHub.WebhookSecret);
        builder.UseSetting("GitHub:ClientId", GitHub.ClientId);
        builder.UseSetting("GitHub:ClientSecret", GitHub.ClientSecret);
        builder.UseSetting("GitHub:ApiBaseUrl", GitHub.BaseUrl.ToString());
        builder.UseSetting("GitHub:WebBaseUrl", GitHub.BaseUrl.ToString());
        builder.UseSetting("GitHub:RetryBaseDelay", "00:00:00.050");
        builder.UseSetting("GitHub:ReconcileInterval", "00:00:00");
        builder.UseSetting("Jobs:PollInterval", "00:00:00.200");
    }

    /// <summary>A page signed in as <paramref name="user"/> through the provider's login form.</summary>
    public async Task<IPage> SignInAsync(OidcProvider.TestUser user, string path = "/")
    {
        var page = await NewPageAsync();
        await page.GotoAsync(path);
        await page.Locator("#user").SelectOptionAsync(user.Subject);
        await page.Locator("#sign-in").ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("^" + System.Text.RegularExpressions.Regex.Escape(BaseUrl.TrimEnd('/'))));
        await WaitForCircuitAsync(page);
        return page;
    }

    /// <summary>An API key of <paramref name="orgId"/> with every permission, created by <paramref name="user"/> through ApiKeyService.</summary>
    public async Task<string> CreateApiKeyAsync(Guid orgId, OidcProvider.TestUser user)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var subject = $"{Oidc!.Authority.TrimEnd('/')}|{user.Subject}";
        var member = await db.Members.AsNoTracking().SingleAsync(m => m.OrgId == orgId && m.Subject == subject);
        var principal = new ClaimsPrincipal(new ClaimsIdentity(
        [
            new Claim(SelfTuneClaims.OrgId, orgId.ToString()),
            new Claim(SelfTuneClaims.ActorId, member.Id.ToString()),
            new Claim(SelfTuneClaims.Role, member.Role.ToString()),
        ], "e2e"));
        var created = await scope.ServiceProvider.GetRequiredService<ApiKeyService>()
            .CreateAsync(principal, $"{user.Name} script", SelfTuneClaims.AllPermissions, null);
        return created.Secret;
    }

    /// <summary>An HttpClient for the app's API, with <paramref name="apiKey"/> as the Bearer token when given.</summary>
    public HttpClient ApiClient(string? apiKey = null)
    {
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        if (apiKey is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return http;
    }

    /// <summary>Delivers a webhook as GitHub does (signed with the App's secret) and checks that the app accepted it.</summary>
    public async Task PostWebhookAsync(string eventName, string payload)
    {
        using var http = new HttpClient();
        using var request = GitHub.CreateWebhookRequest(new Uri(new Uri(BaseUrl), "api/v1/github/webhook"), eventName, payload);
        using var response = await http.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted,
            $"The {eventName} webhook was answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (GitHub is not null) await GitHub.DisposeAsync();
    }
}
