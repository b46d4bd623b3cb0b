using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Extensions;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>
/// The registry API is free-plan, so nothing in the app answers 402 yet. This builds the real app (same services, same
/// pipeline, same API-key handler) with one extra endpoint gated like the GitHub API will be:
/// <c>RequireApiKey(...).RequirePlan(Plan.Pro)</c>.
/// </summary>
public sealed class PlanGateApp : IAsyncLifetime
{
    public const string Gated = "/api/v1/test/plan-gated";
    readonly string dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));
    WebApplication app = null!;
    public WebApplication App => app;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(dataPath);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = Environments.Development,
            ApplicationName = typeof(Program).Assembly.GetName().Name,
            ContentRootPath = dataPath,
        });
        builder.WebHost.UseTestServer();
        builder.Configuration["Storage:DataPath"] = dataPath;
        builder.Configuration["Authentication:Oidc:Authority"] = "";
        builder.AddSelfTuneAdmin();
        app = builder.Build();
        app.UseSelfTuneAdmin();
        app.MapGet(Gated, () => Results.Ok(new { ok = true }))
            .RequireApiKey(SelfTuneClaims.RegistryRead)
            .RequirePlan(Plan.Pro);
        await app.InitializeDatabaseAsync();
        await app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await app.DisposeAsync();
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public async Task<string> KeyForNewOrgAsync(Plan plan, params string[] permissions)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var org = new Org { Slug = "org-" + Guid.NewGuid().ToString("N")[..8], Name = plan + " org", Plan = plan, CreatedAt = DateTimeOffset.UtcNow };
        var secret = ApiKeyFormat.Generate();
        db.Orgs.Add(org);
        db.ApiKeys.Add(new ApiKey
        {
            OrgId = org.Id, Name = "test", Prefix = ApiKeyFormat.VisiblePrefix(secret), Hash = ApiKeyFormat.Hash(secret),
            Permissions = string.Join(' ', permissions), CreatedAt = DateTimeOffset.UtcNow,
        });
        await db.SaveChangesAsync();
        return secret;
    }

    public Task<HttpResponseMessage> GetGatedAsync(string? key)
    {
        var client = app.GetTestClient();
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client.GetAsync(Gated);
    }
}

public sealed class PlanGateTests(PlanGateApp gate) : IClassFixture<PlanGateApp>
{
    Task<string> KeyForNewOrgAsync(Plan plan, params string[] permissions) => gate.KeyForNewOrgAsync(plan, permissions);
    Task<HttpResponseMessage> GetGatedAsync(string? key) => gate.GetGatedAsync(key);

    [Fact]
    public async Task Free_plan_is_402_plan_required()
    {
        var response = await GetGatedAsync(await KeyForNewOrgAsync(Plan.Free, SelfTuneClaims.RegistryRead));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.PaymentRequired, "plan_required");
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains("pro", detail);
        Assert.Contains("free", detail);
    }

    [Theory]
    [InlineData(Plan.Pro)]
    [InlineData(Plan.Team)]
    [InlineData(Plan.Enterprise)]
    public async Task Pro_and_higher_pass(Plan plan)
    {
        var response = await GetGatedAsync(await KeyForNewOrgAsync(plan, SelfTuneClaims.RegistryRead));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Key_and_permission_are_checked_before_the_plan()
    {
        await ExpectProblemAsync(await GetGatedAsync(null), HttpStatusCode.Unauthorized, "unauthorized");
        await ExpectProblemAsync(await GetGatedAsync(await KeyForNewOrgAsync(Plan.Free, SelfTuneClaims.RegistryPush)),
            HttpStatusCode.Forbidden, "forbidden");
    }
}
