using Bunit;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Components.Pages.ApiKeys;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

public sealed class ApiKeysPageTests(AdminAppFactory app) : PageTestContext(app), IClassFixture<AdminAppFactory>
{
    [Fact]
    public async Task Empty_org_explains_what_keys_are_for()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.WithDbAsync(async db => { db.ApiKeys.RemoveRange(db.ApiKeys.Where(k => k.OrgId == orgId)); return await db.SaveChangesAsync(); });
        SignInAs(orgId);
        var page = RenderPage<ApiKeys>();
        page.WaitForAssertion(() => Assert.Contains("No API keys yet", page.Find("[data-testid=empty]").TextContent));
    }

    [Fact]
    public async Task Lists_keys_with_prefix_permissions_and_status()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        await App.CreateKeyAsync(orgId, [SelfTuneClaims.RegistryRead], revoked: true);
        SignInAs(orgId);
        var page = RenderPage<ApiKeys>();
        page.WaitForAssertion(() => Assert.Equal(2, page.FindAll("[data-testid=key-status]").Count));
        var statuses = page.FindAll("[data-testid=key-status]").Select(s => s.TextContent.Trim()).OrderBy(s => s).ToList();
        Assert.Equal(["active", "revoked"], statuses);
        Assert.Contains("st_live_", page.Markup);
    }

    [Fact]
    public async Task Viewer_cannot_create_or_revoke()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        SignInAs(orgId, MemberRole.Viewer);
        var page = RenderPage<ApiKeys>();
        page.WaitForAssertion(() => Assert.Single(page.FindAll("[data-testid=key-status]")));
        Assert.Empty(page.FindAll("[data-testid=create-key]"));
        Assert.Empty(page.FindAll("[data-testid=revoke-key]"));
    }

    [Fact]
    public async Task Last_used_updates_live_when_a_script_uses_the_key()
    {
        var (orgId, key) = await App.CreateOrgAsync(Plan.Pro);
        SignInAs(orgId);
        var page = RenderPage<ApiKeys>();
        page.WaitForAssertion(() => Assert.Contains("never", page.Find("[data-testid=keys]").TextContent));

        using var script = App.CreateClient(key);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await script.GetAsync("/api/v1/registry")).StatusCode);

        // No new render call: the page hears about the use and re-reads.
        page.WaitForAssertion(() => Assert.Contains("just now", page.Find("[data-testid=keys]").TextContent));
    }
}
