using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Audit;

/// <summary><c>GET /api/v1/audit</c>: the org's entries only, newest first, cursor paging, and its filters.</summary>
public sealed class AuditApiTests(AdminAppFactory app) : IClassFixture<AdminAppFactory>
{
    static readonly DateTimeOffset T0 = new(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);

    static async Task<JsonObject> GetAsync(HttpClient api, string query)
    {
        var response = await api.GetAsync("/api/v1/audit" + query);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    static async Task<List<string>> ActionsAsync(HttpClient api, string query) =>
        (await GetAsync(api, query))["entries"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()).ToList();

    [Fact]
    public async Task Lists_only_the_orgs_entries_newest_first_in_snake_case()
    {
        var (orgId, key) = await app.CreateOrgAsync(Plan.Pro);
        var (otherOrg, _) = await app.CreateOrgAsync(Plan.Pro);
        var ada = AuditSeed.Member(orgId, "Ada");
        await app.AuditEntryAsync(ada, T0, "connection.create", summary: "acme/skills → entry hello");
        await app.AuditEntryAsync(AuditSeed.Key(orgId, "ci"), T0.AddMinutes(1), "connection.sync");
        await app.AuditEntryAsync(AuditSeed.Member(otherOrg, "Mallory"), T0.AddMinutes(2), "connection.delete");
        using var api = app.CreateClient(key);

        var body = await GetAsync(api, "");
        Assert.Null(body["next_cursor"]);
        var entries = body["entries"]!.AsArray();
        Assert.Equal(["connection.sync", "connection.create"], entries.Select(e => e!["action"]!.GetValue<string>()));
        var first = entries[1]!.AsObject();
        Assert.Equal("member", first["actor_kind"]!.GetValue<string>());
        Assert.Equal(ada.Id.ToString(), first["actor_id"]!.GetValue<string>());
        Assert.Equal("Ada", first["actor_name"]!.GetValue<string>());
        Assert.Equal("connection", first["target_type"]!.GetValue<string>());
        Assert.Equal("acme/skills", first["target_name"]!.GetValue<string>());
        Assert.NotNull(first["target_id"]);
        Assert.Equal("acme/skills → entry hello", first["summary"]!.GetValue<string>());
        Assert.Equal(T0, first["at"]!.GetValue<DateTimeOffset>());
        Assert.Equal("api_key", entries[0]!["actor_kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Pages_with_a_cursor_without_repeating_or_skipping_entries_at_the_same_time()
    {
        var (orgId, key) = await app.CreateOrgAsync(Plan.Pro);
        var actor = AuditSeed.Member(orgId, "Ada");
        var expected = new List<Guid>();
        for (var i = 0; i < 7; i++) expected.Add((await app.AuditEntryAsync(actor, T0.AddMinutes(i / 2), $"connection.sync")).Id); // pairs share a time
        using var api = app.CreateClient(key);

        var seen = new List<(Guid Id, DateTimeOffset At)>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var body = await GetAsync(api, "?limit=2" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            seen.AddRange(body["entries"]!.AsArray().Select(e => (Guid.Parse(e!["id"]!.GetValue<string>()), e["at"]!.GetValue<DateTimeOffset>())));
            cursor = body["next_cursor"]?.GetValue<string>();
            pages++;
        } while (cursor is not null);

        Assert.Equal(4, pages);
        Assert.Equal(expected.Order(), seen.Select(s => s.Id).Order());
        Assert.Equal(seen.Select(s => s.At).OrderDescending(), seen.Select(s => s.At));

        var badCursor = await api.GetAsync("/api/v1/audit?cursor=garbage");
        Assert.Equal(HttpStatusCode.BadRequest, badCursor.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.GetAsync("/api/v1/audit?limit=0")).StatusCode);
    }

    [Fact]
    public async Task Filters_by_action_or_area_actor_target_type_and_time()
    {
        var (orgId, key) = await app.CreateOrgAsync(Plan.Pro);
        var ada = AuditSeed.Member(orgId, "Ada Lovelace");
        var ci = AuditSeed.Key(orgId, "ci");
        await app.AuditEntryAsync(ada, T0, "connection.create");
        await app.AuditEntryAsync(ci, T0.AddHours(1), "connection.sync");
        await app.AuditEntryAsync(ada, T0.AddHours(2), "api_key.create", targetType: "api_key", targetName: "deploy");
        await app.AuditEntryAsync(ada, T0.AddHours(3), "connections.oddity"); // another area that starts with the same letters
        using var api = app.CreateClient(key);

        Assert.Equal(["connection.sync", "connection.create"], await ActionsAsync(api, "?action=connection"));
        Assert.Equal(["connection.sync"], await ActionsAsync(api, "?action=connection.sync"));
        Assert.Equal(["connections.oddity", "api_key.create", "connection.create"], await ActionsAsync(api, "?actor=Ada%20Lovelace"));
        Assert.Equal(["connection.sync"], await ActionsAsync(api, $"?actor={ci.Id}"));
        Assert.Equal(["connection.sync"], await ActionsAsync(api, "?actor_kind=api_key"));
        Assert.Equal(["api_key.create"], await ActionsAsync(api, "?target_type=api_key"));
        Assert.Equal(["api_key.create", "connection.sync"], await ActionsAsync(api, "?since=2026-11-20T13:00:00Z&until=2026-11-20T15:00:00Z"));
        Assert.Equal(["connection.sync"], await ActionsAsync(api, "?since=2026-11-20T13:00:00%2B00:00&until=2026-11-20T14:00:00Z&action=connection"));
        Assert.Empty(await ActionsAsync(api, "?actor=nobody"));

        Assert.Equal(HttpStatusCode.BadRequest, (await api.GetAsync("/api/v1/audit?actor_kind=robot")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await api.GetAsync("/api/v1/audit?since=yesterday")).StatusCode);
    }

    [Fact]
    public async Task Needs_a_key_with_registry_push()
    {
        var (orgId, _) = await app.CreateOrgAsync(Plan.Free);
        var readOnly = await app.CreateKeyAsync(orgId, [SelfTuneClaims.RegistryRead]);
        var push = await app.CreateKeyAsync(orgId, [SelfTuneClaims.RegistryRead, SelfTuneClaims.RegistryPush]);
        using var anonymous = app.CreateClient(apiKey: null);
        using var reader = app.CreateClient(readOnly);
        using var admin = app.CreateClient(push);

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/audit")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.GetAsync("/api/v1/audit")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/v1/audit")).StatusCode); // any plan: the log is not a Pro feature
    }
}
