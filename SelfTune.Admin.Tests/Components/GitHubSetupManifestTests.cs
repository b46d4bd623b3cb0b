using System.Text.Json.Nodes;
using System.Web;
using Bunit;
using Bunit.TestDoubles;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Audit;
using SelfTune.Admin.Components.Pages.GitHubSetup;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.GitHub;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// Without App settings /settings/github names what is missing and offers GitHub's App manifest flow; the callback
/// exchanges GitHub's code, stores the credentials encrypted, and the product uses them from then on.
/// </summary>
public sealed class GitHubSetupManifestTests : PageTestContext, IClassFixture<UnconfiguredGitHubHarness>
{
    readonly FakeGitHub gh;
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    public GitHubSetupManifestTests(UnconfiguredGitHubHarness fixture) : base(fixture.App)
    {
        gh = fixture.GitHub;
        SetRendererInfo(new RendererInfo("Server", isInteractive: true));
    }

    BunitNavigationManager Nav => (BunitNavigationManager)Services.GetRequiredService<NavigationManager>();

    IRenderedComponent<ContainerFragment> RenderAt<TPage>(string relativeUrl) where TPage : IComponent
    {
        Nav.NavigateTo(relativeUrl);
        return RenderPage<TPage>();
    }

    string IssueManifestState(Guid orgId, Guid actorId)
    {
        using var scope = App.Services.CreateScope();
        return scope.ServiceProvider.GetRequiredService<AppManifestService>().IssueState(orgId, actorId);
    }

    // One story, in order: the stored App is deployment-wide, so the steps depend on each other.
    [Fact]
    public async Task Not_configured_offers_the_manifest_flow_whose_callback_stores_encrypted_credentials_the_product_then_uses()
    {
        // 0. The App serves every org: only owners of the operator's org (GitHub:ManifestSetupOrg; in Development the seeded
        //    acme) may create it. An owner of another Pro org is told why, and the callback refuses them too.
        var (otherOrg, _) = await App.CreateOrgAsync(Plan.Pro);
        var otherOwner = Guid.NewGuid();
        SignInAs(otherOrg, MemberRole.Owner, memberId: otherOwner);
        var refused = RenderAt<GitHubSetupPage>("/settings/github");
        refused.WaitForElement("[data-testid=create-app-refused]", Wait);
        Assert.Contains("GitHub:ManifestSetupOrg", refused.Find("[data-testid=create-app-refused]").TextContent);
        Assert.Contains("operator", refused.Find("[data-testid=create-app-refused]").TextContent);
        Assert.Empty(refused.FindAll("[data-testid=create-app]"));
        Assert.Empty(refused.FindAll("[data-testid=manifest-form]"));
        await DisposeComponentsAsync();

        gh.RegisterManifestCode("code-stolen");
        refused = RenderAt<GitHubAppManifestCallback>(
            $"/settings/github/manifest?code=code-stolen&state={Uri.EscapeDataString(IssueManifestState(otherOrg, otherOwner))}");
        refused.WaitForElement("[data-testid=manifest-error]", Wait);
        Assert.Contains("Only owners of the org named in GitHub:ManifestSetupOrg", refused.Find("[data-testid=manifest-error-message]").TextContent);
        Assert.Equal(0, gh.CountRequests("/app-manifests/code-stolen/conversions", "POST"));
        Assert.False(await App.WithDbAsync(db => db.StoredApps.AnyAsync()));
        await DisposeComponentsAsync();

        // An admin (not owner) of the operator's org may not either.
        var orgId = await App.AcmeOrgIdAsync();
        var adminId = Guid.NewGuid();
        SignInAs(orgId, MemberRole.Admin, memberId: adminId);
        refused = RenderAt<GitHubSetupPage>("/settings/github");
        refused.WaitForElement("[data-testid=create-app-refused]", Wait);
        Assert.Contains("Only owners of this org", refused.Find("[data-testid=create-app-refused]").TextContent);
        Assert.Empty(refused.FindAll("[data-testid=create-app]"));
        await DisposeComponentsAsync();
        refused = RenderAt<GitHubAppManifestCallback>(
            $"/settings/github/manifest?code=code-stolen&state={Uri.EscapeDataString(IssueManifestState(orgId, adminId))}");
        refused.WaitForElement("[data-testid=manifest-error]", Wait);
        Assert.Contains("Only owners of this org", refused.Find("[data-testid=manifest-error-message]").TextContent);
        Assert.Equal(0, gh.CountRequests("/app-manifests/code-stolen/conversions", "POST"));
        await DisposeComponentsAsync();

        // The operator's org's owner goes through the flow.
        var actorId = Guid.NewGuid();
        SignInAs(orgId, MemberRole.Owner, memberId: actorId);

        // 1. Not configured: the missing settings are named, the App can be created through GitHub.
        var page = RenderAt<GitHubSetupPage>("/settings/github");
        page.WaitForElement("[data-testid=github-not-configured]", Wait);
        Assert.Equal(["GitHub:AppId", "GitHub:AppSlug", "GitHub:PrivateKey", "GitHub:WebhookSecret"],
            page.FindAll("[data-testid=missing-setting]").Select(s => s.TextContent.Trim()));
        Assert.Contains("App not configured", page.Find("[data-testid=app-status]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=install-app]"));
        // The card issues its manifest state as it loads, after the page: wait for it (PostgreSQL run: it came later).
        page.WaitForElement("[data-testid=create-app]", Wait);

        var form = page.Find("[data-testid=manifest-form]");
        Assert.Equal("post", form.GetAttribute("method"));
        var action = new Uri(form.GetAttribute("action")!);
        Assert.Equal($"{gh.BaseUrl}settings/apps/new", action.GetLeftPart(UriPartial.Path));
        Assert.False(string.IsNullOrEmpty(HttpUtility.ParseQueryString(action.Query)["state"]));
        var manifest = JsonNode.Parse(page.Find("[data-testid=manifest]").GetAttribute("value")!)!;
        Assert.Equal("http://localhost/api/v1/github/webhook", manifest["hook_attributes"]!["url"]!.GetValue<string>());
        Assert.Equal("http://localhost/settings/github/manifest", manifest["redirect_url"]!.GetValue<string>());
        Assert.Equal("http://localhost/settings/github", manifest["setup_url"]!.GetValue<string>());
        Assert.True(manifest["setup_on_update"]!.GetValue<bool>());
        // GitHub asks the installing person to authorize the App and sends them to the callback, which proves what they can access.
        Assert.True(manifest["request_oauth_on_install"]!.GetValue<bool>());
        Assert.Equal(["http://localhost/settings/github/callback"], manifest["callback_urls"]!.AsArray().Select(u => u!.GetValue<string>()));
        Assert.False(manifest["public"]!.GetValue<bool>());
        Assert.Equal("read", manifest["default_permissions"]!["contents"]!.GetValue<string>());
        Assert.Equal("read", manifest["default_permissions"]!["metadata"]!.GetValue<string>());
        Assert.Equal("write", manifest["default_permissions"]!["checks"]!.GetValue<string>());
        Assert.Equal("write", manifest["default_permissions"]!["statuses"]!.GetValue<string>());
        Assert.Equal(["push", "create", "repository", "pull_request"], manifest["default_events"]!.AsArray().Select(e => e!.GetValue<string>()));

        // A GitHub organization as owner changes where the form posts.
        await page.InvokeAsync(() => page.Find("input[data-testid=app-org], [data-testid=app-org] input").Input("acme-gh"));
        page.WaitForAssertion(() => Assert.StartsWith($"{gh.BaseUrl}organizations/acme-gh/settings/apps/new?state=",
            page.Find("[data-testid=manifest-form]").GetAttribute("action")), Wait);
        await DisposeComponentsAsync();

        // 2. A callback with another member's state is refused, and nothing is stored.
        gh.RegisterManifestCode("code-1");
        page = RenderAt<GitHubAppManifestCallback>($"/settings/github/manifest?code=code-1&state={Uri.EscapeDataString(IssueManifestState(orgId, Guid.NewGuid()))}");
        page.WaitForElement("[data-testid=manifest-error]", Wait);
        Assert.Contains("started by someone else", page.Find("[data-testid=manifest-error-message]").TextContent);
        Assert.NotNull(page.Find("[data-testid=start-again]"));
        await DisposeComponentsAsync();

        // 3. A code GitHub does not know is explained.
        var state = Uri.EscapeDataString(IssueManifestState(orgId, actorId));
        page = RenderAt<GitHubAppManifestCallback>($"/settings/github/manifest?code=never-issued&state={state}");
        page.WaitForElement("[data-testid=manifest-error]", Wait);
        Assert.Contains("GitHub does not know this code", page.Find("[data-testid=manifest-error-message]").TextContent);
        Assert.False(await App.WithDbAsync(db => db.StoredApps.AnyAsync()));
        await DisposeComponentsAsync();

        // 4. The real code: exchanged at POST /app-manifests/{code}/conversions, stored encrypted, back to the setup page.
        page = RenderAt<GitHubAppManifestCallback>($"/settings/github/manifest?code=code-1&state={state}");
        page.WaitForAssertion(() => Assert.Equal("http://localhost/settings/github", Nav.Uri), Wait);
        Assert.Equal(1, gh.CountRequests("/app-manifests/code-1/conversions", "POST"));

        var row = await App.WithDbAsync(db => db.StoredApps.SingleAsync());
        Assert.Equal(1, row.Id);
        Assert.Equal(gh.AppId, row.AppId);
        Assert.Equal(gh.AppSlug, row.Slug);
        Assert.DoesNotContain("PRIVATE KEY", row.ProtectedPrivateKey);
        Assert.NotEqual(gh.WebhookSecret, row.ProtectedWebhookSecret);
        Assert.DoesNotContain(gh.WebhookSecret, row.ProtectedWebhookSecret);
        Assert.Equal(gh.ClientId, row.ClientId);
        Assert.DoesNotContain(gh.ClientSecret, row.ProtectedClientSecret);
        // The owner's App creation is in the org's audit log, once: the refused and failed tries above wrote nothing.
        var recorded = await App.WithDbAsync(db => db.AuditEntries.Where(a => a.Action == "github.app_create").ToListAsync());
        var entry = Assert.Single(recorded);
        Assert.Equal((orgId, actorId, "Dev Developer", AuditActorKind.Member), (entry.OrgId, entry.ActorId!.Value, entry.ActorName, entry.ActorKind));
        Assert.Equal(("app", gh.AppId.ToString(), gh.AppSlug), (entry.TargetType, entry.TargetId, entry.TargetName));
        Assert.Contains("manifest", entry.Summary);

        // 5. The product uses them: the credential source returns them and the App client authenticates with them.
        await using (var scope = App.Services.CreateAsyncScope())
        {
            var credentials = await scope.ServiceProvider.GetRequiredService<IGitHubAppCredentialSource>().GetAsync(CancellationToken.None);
            Assert.NotNull(credentials);
            Assert.Equal(gh.AppId, credentials.AppId);
            Assert.Equal(gh.AppSlug, credentials.AppSlug);
            Assert.Equal(gh.PrivateKeyPem, credentials.PrivateKeyPem);
            Assert.Equal(gh.WebhookSecret, credentials.WebhookSecret);
            var app = await scope.ServiceProvider.GetRequiredService<IGitHubClientFactory>().CreateAppClientAsync(CancellationToken.None);
            Assert.Equal(gh.AppSlug, (await app.GitHubApps.GetCurrent()).Slug);
            // And its OAuth client for GitHub's user authorization (binding's proof).
            var client = await scope.ServiceProvider.GetRequiredService<GitHubUserAuthorization>().GetClientAsync(CancellationToken.None);
            Assert.Equal((gh.ClientId, gh.ClientSecret), (client!.ClientId, client.ClientSecret));
        }

        // 6. The setup page now offers the install link of the stored App.
        await DisposeComponentsAsync();
        page = RenderAt<GitHubSetupPage>("/settings/github");
        page.WaitForElement("[data-testid=install-app]", Wait);
        Assert.Contains(gh.AppSlug, page.Find("[data-testid=app-status]").TextContent);
        Assert.Empty(page.FindAll("[data-testid=github-not-configured]"));

        // 7. A second exchange does not replace the stored App.
        gh.RegisterManifestCode("code-2");
        await DisposeComponentsAsync();
        page = RenderAt<GitHubAppManifestCallback>($"/settings/github/manifest?code=code-2&state={state}");
        page.WaitForElement("[data-testid=manifest-error]", Wait);
        Assert.Contains("already created", page.Find("[data-testid=manifest-error-message]").TextContent);
        Assert.Equal(1, await App.WithDbAsync(db => db.AuditEntries.CountAsync(a => a.Action == "github.app_create")));
    }

    [Fact]
    public async Task Members_cannot_create_the_app()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var actorId = Guid.NewGuid();
        SignInAs(orgId, MemberRole.Member, memberId: actorId);

        var page = RenderAt<GitHubSetupPage>("/settings/github");
        page.WaitForElement("[data-testid=app-status]", Wait); // configured or not, depending on the other test
        Assert.Empty(page.FindAll("[data-testid=create-app]"));
        await DisposeComponentsAsync();

        page = RenderAt<GitHubAppManifestCallback>($"/settings/github/manifest?code=x&state={Uri.EscapeDataString(IssueManifestState(orgId, actorId))}");
        page.WaitForElement("[data-testid=manifest-error]", Wait);
        Assert.Contains("Only owners", page.Find("[data-testid=manifest-error-message]").TextContent);
    }
}
