using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Auth;

/// <summary>SPEC section 2: 401 for no/bad/expired/revoked keys (with a Bearer challenge), 403 for a missing permission.</summary>
public class ApiKeyAuthTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    /// <summary>Issue 14: guessing keys from one address is cut off with 429 after 30 failures a minute, valid keys included.</summary>
    [Fact]
    public async Task Thirty_failed_keys_from_one_address_and_its_next_attempts_are_429_with_retry_after()
    {
        using var app = new AdminAppFactory(); // its own limiter: this address stays blocked for a while
        var guesser = app.CreateClient(apiKey: "st_live_" + new string('x', 43));
        for (var i = 0; i < 30; i++)
            await ExpectProblemAsync(await guesser.GetAsync("/api/v1/registry"), HttpStatusCode.Unauthorized, "unauthorized");

        var blocked = await guesser.GetAsync("/api/v1/registry");
        var problem = await ExpectProblemAsync(blocked, HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.NotNull(blocked.Headers.RetryAfter);
        Assert.Contains("Too many failed API key attempts", problem.GetProperty("detail").GetString());
        // The same address with the right key waits too: the block is decided before any lookup.
        await ExpectProblemAsync(await app.CreateClient(app.DevelopmentKey).GetAsync("/api/v1/registry"), HttpStatusCode.TooManyRequests, "rate_limited");
    }

    [Fact]
    public async Task No_key_is_401_with_a_bearer_challenge()
    {
        var client = factory.CreateClient(apiKey: null);

        foreach (var response in new[]
                 {
                     await client.GetAsync("/api/v1/registry"),
                     await client.PostAsJsonAsync("/api/v1/registry", new { name = "x" }),
                 })
        {
            var problem = await ExpectProblemAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
            Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
            Assert.Contains("Bearer", problem.GetProperty("detail").GetString());
        }
    }

    [Theory]
    [InlineData("Basic x")]
    [InlineData("Bearer")]
    [InlineData("Token st_live_abc")]
    public async Task Malformed_authorization_header_is_401(string header)
    {
        var client = factory.CreateClient(apiKey: null);
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/registry");
        request.Headers.TryAddWithoutValidation("Authorization", header);

        var response = await client.SendAsync(request);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        Assert.Contains("Bearer <API key>", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("unknown", "not valid")]
    [InlineData("expired", "expired")]
    [InlineData("revoked", "revoked")]
    public async Task Refused_key_is_401_saying_why(string kind, string reason)
    {
        var orgId = await factory.AcmeOrgIdAsync();
        var key = kind switch
        {
            "unknown" => ApiKeyFormat.Generate(),
            "expired" => await factory.CreateKeyAsync(orgId, SelfTuneClaims.AllPermissions, expiresAt: DateTimeOffset.UtcNow.AddMinutes(-1)),
            _ => await factory.CreateKeyAsync(orgId, SelfTuneClaims.AllPermissions, revoked: true),
        };
        var client = factory.CreateClient(key);

        // Both kinds of endpoint: key required, and key optional (a present but bad key is still refused).
        var entry = await CreateEntryAsync(factory.CreateClient(factory.DevelopmentKey), UniqueName(), visibility: "public");
        foreach (var path in new[] { "/api/v1/registry", $"/api/v1/registry/{entry.GetProperty("id").GetString()}" })
        {
            var response = await client.GetAsync(path);
            var problem = await ExpectProblemAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
            Assert.Contains(reason, problem.GetProperty("detail").GetString());
            var challenge = Assert.Single(response.Headers.WwwAuthenticate);
            Assert.Equal("Bearer", challenge.Scheme);
            Assert.Contains("invalid_token", challenge.Parameter);
        }
    }

    [Fact]
    public async Task Key_with_a_future_expiry_is_accepted()
    {
        var key = await factory.CreateKeyAsync(await factory.AcmeOrgIdAsync(), SelfTuneClaims.AllPermissions, expiresAt: DateTimeOffset.UtcNow.AddDays(1));

        var response = await factory.CreateClient(key).GetAsync("/api/v1/registry");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Key_without_registry_push_cannot_publish_403_naming_the_permission()
    {
        var entry = await CreateEntryAsync(factory.CreateClient(factory.DevelopmentKey), UniqueName());
        var readOnly = factory.CreateClient(await factory.CreateKeyAsync(await factory.AcmeOrgIdAsync(), [SelfTuneClaims.RegistryRead]));

        var create = await readOnly.PostAsJsonAsync("/api/v1/registry", new { name = UniqueName() });
        var createProblem = await ExpectProblemAsync(create, HttpStatusCode.Forbidden, "forbidden");
        Assert.Contains("registry:push", createProblem.GetProperty("detail").GetString());

        var push = await readOnly.PostAsync($"/api/v1/registry/{entry.GetProperty("id").GetString()}/versions",
            Multipart(new { version = "1.0.0" }, SkillArchive()));
        var pushProblem = await ExpectProblemAsync(push, HttpStatusCode.Forbidden, "forbidden");
        Assert.Contains("registry:push", pushProblem.GetProperty("detail").GetString());

        var versions = await readOnly.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/v1/registry/{entry.GetProperty("id").GetString()}/versions");
        Assert.Empty(versions.GetProperty("versions").EnumerateArray());
    }

    [Fact]
    public async Task Key_without_registry_read_cannot_list_or_read_org_entries_403()
    {
        var entry = await CreateEntryAsync(factory.CreateClient(factory.DevelopmentKey), UniqueName());
        var pushOnly = factory.CreateClient(await factory.CreateKeyAsync(await factory.AcmeOrgIdAsync(), [SelfTuneClaims.RegistryPush]));

        foreach (var path in new[] { "/api/v1/registry", $"/api/v1/registry/{entry.GetProperty("id").GetString()}" })
        {
            var problem = await ExpectProblemAsync(await pushOnly.GetAsync(path), HttpStatusCode.Forbidden, "forbidden");
            Assert.Contains("registry:read", problem.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task Registry_api_is_open_to_the_free_plan()
    {
        var (_, key) = await factory.CreateOrgAsync(Plan.Free);
        var client = factory.CreateClient(key);

        var entry = await CreateEntryAsync(client, UniqueName());
        await PushAsync(client, entry.GetProperty("id").GetString()!, "1.0.0", SkillArchive());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/registry")).StatusCode);
    }

    [Fact]
    public async Task Last_used_at_is_set_when_the_key_is_used()
    {
        var orgId = await factory.AcmeOrgIdAsync();
        var key = await factory.CreateKeyAsync(orgId, SelfTuneClaims.AllPermissions);
        var hash = ApiKeyFormat.Hash(key);
        Task<DateTimeOffset?> LastUsed() => factory.WithDbAsync(db => db.ApiKeys.Where(k => k.Hash == hash).Select(k => k.LastUsedAt).SingleAsync());
        Assert.Null(await LastUsed());

        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        Assert.Equal(HttpStatusCode.OK, (await factory.CreateClient(key).GetAsync("/api/v1/registry")).StatusCode);

        var lastUsed = await LastUsed();
        Assert.NotNull(lastUsed);
        Assert.InRange(lastUsed.Value, before, DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task Refused_key_does_not_touch_last_used_at()
    {
        var key = await factory.CreateKeyAsync(await factory.AcmeOrgIdAsync(), SelfTuneClaims.AllPermissions, revoked: true);
        var hash = ApiKeyFormat.Hash(key);

        Assert.Equal(HttpStatusCode.Unauthorized, (await factory.CreateClient(key).GetAsync("/api/v1/registry")).StatusCode);

        Assert.Null(await factory.WithDbAsync(db => db.ApiKeys.Where(k => k.Hash == hash).Select(k => k.LastUsedAt).SingleAsync()));
    }

    [Fact]
    public async Task Bearer_scheme_is_case_insensitive()
    {
        var client = factory.CreateClient(apiKey: null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("bearer", factory.DevelopmentKey);

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/registry")).StatusCode);
    }
}
