using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.Tests.Components;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Audit;

/// <summary>
/// Each change an admin or key makes is in the org's audit log, read back through <c>GET /api/v1/audit</c> as an
/// admin's script would: who (name and kind), what, to what, before → after. A refused change writes nothing.
/// Each test works in an org of its own, so its log holds only its own changes.
/// </summary>
public sealed class AuditRecordingTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    const string KeyName = "test"; // AdminAppFactory.CreateOrgAsync's key

    /// <summary>The org's entries for <paramref name="query"/>, newest first, through the API.</summary>
    static async Task<List<JsonObject>> EntriesAsync(HttpClient api, string query = "")
    {
        var body = await api.GetFromJsonAsync<JsonObject>("/api/v1/audit" + query);
        return body!["entries"]!.AsArray().Select(e => e!.AsObject()).ToList();
    }

    static string S(JsonObject entry, string field) => entry[field]!.GetValue<string>();

    static void AssertByKey(JsonObject entry, string action, string targetType)
    {
        Assert.Equal(action, S(entry, "action"));
        Assert.Equal(targetType, S(entry, "target_type"));
        Assert.Equal("api_key", S(entry, "actor_kind"));
        Assert.Equal(KeyName, S(entry, "actor_name"));
    }

    [Fact]
    public async Task Write_back_mode_change_is_recorded_with_before_and_after()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);

        Assert.Equal(HttpStatusCode.OK, (await api.PostAsJsonAsync("/api/v1/github/settings", new { write_back_mode = "checks_and_prs" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsJsonAsync("/api/v1/github/settings", new { write_back_mode = "checks_and_prs" })).StatusCode); // no change
        await GitHubHarness.AssertProblemAsync(await api.PostAsJsonAsync("/api/v1/github/settings", new { write_back_mode = "loud" }),
            HttpStatusCode.BadRequest, "invalid_request");

        var entry = Assert.Single(await EntriesAsync(api));
        AssertByKey(entry, "github.write_back_change", "github_settings");
        Assert.Equal("write_back_mode: checks → checks_and_prs", S(entry, "summary"));
    }

    [Fact]
    public async Task Binding_in_the_browser_is_recorded_once_for_the_member()
    {
        var (orgId, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var installation = h.GitHub.AddInstallation("audit-bind-org");

        await h.BindAsync(api, installation); // the browser's callback binds; the script's call after it finds it bound

        var entry = Assert.Single(await EntriesAsync(api));
        Assert.Equal("installation.bind", S(entry, "action"));
        Assert.Equal("member", S(entry, "actor_kind"));
        Assert.Equal("Test Admin", S(entry, "actor_name")); // SignedInBrowser's member
        Assert.Equal(installation.Id.ToString(), S(entry, "target_id"));
        Assert.Equal("audit-bind-org", S(entry, "target_name"));
        Assert.Equal("Organization audit-bind-org", S(entry, "summary"));
        Assert.Equal(orgId, await h.App.WithDbAsync(db => db.AuditEntries.Where(a => a.Action == "installation.bind" && a.TargetId == installation.Id.ToString())
            .Select(a => a.OrgId).SingleAsync()));
    }

    [Fact]
    public async Task Connection_create_update_and_delete_are_recorded_and_a_refused_change_is_not()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var c = await h.ConnectRepoAsync(api, "audit-conn", firstSync: true); // created as a person does: one create, no update
        var id = c.ConnectionId.ToString();
        var repo = c.Repo.FullName;

        // Refused: not reachable (422), a bad tag pattern (422), and a viewer's edit through the service (403).
        var refused = await api.PostAsJsonAsync("/api/v1/github/connections",
            new { entry_id = c.EntryId, installation_id = c.Installation.Id, repo_full_name = "someone/else" });
        await GitHubHarness.AssertProblemAsync(refused, HttpStatusCode.UnprocessableEntity, "validation_failed");
        await GitHubHarness.AssertProblemAsync(await api.PatchAsJsonAsync($"/api/v1/github/connections/{id}", new { tag_pattern = "[" }),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        await using var scope = h.App.Services.CreateAsyncScope();
        var connections = scope.ServiceProvider.GetRequiredService<ConnectionService>();
        var (connection, _, _) = await connections.GetAsync(await SignedInBrowser.OrgOfAsync(h.App, api), id, default);
        var viewer = new Actor(connection.OrgId, Guid.NewGuid(), MemberRole.Viewer) { Name = "A Viewer" };
        var forbidden = await Assert.ThrowsAsync<SelfTune.Admin.Infrastructure.ProblemException>(() =>
            connections.UpdateAsync(viewer, connection, new UpdateConnectionRequest(WriteBackEnabled: null, AutoPublish: false, TagPattern: null, DefaultBranch: null, SkillPath: null), default));
        Assert.Equal(403, forbidden.Status);

        Assert.Equal(HttpStatusCode.OK, (await api.PatchAsJsonAsync($"/api/v1/github/connections/{id}",
            new { auto_publish = false, tag_pattern = "release-*", default_branch = "main" })).StatusCode); // main: unchanged, not listed
        Assert.Equal(HttpStatusCode.OK, (await api.PatchAsJsonAsync($"/api/v1/github/connections/{id}", new { auto_publish = false })).StatusCode); // nothing changes
        Assert.Equal(HttpStatusCode.OK, (await api.DeleteAsync($"/api/v1/github/connections/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.DeleteAsync($"/api/v1/github/connections/{id}")).StatusCode);

        var entries = await EntriesAsync(api, "?action=connection");
        Assert.Equal(["connection.delete", "connection.update", "connection.create"], entries.Select(e => S(e, "action")));
        Assert.All(entries, e => AssertByKey(e, S(e, "action"), "connection"));
        Assert.All(entries, e => Assert.Equal((id, repo), (S(e, "target_id"), S(e, "target_name"))));
        Assert.Equal($"{repo} (skill_path .) → entry audit-conn; default_branch main, tag_pattern v*, auto_publish true, write_back_enabled false; first sync queued",
            S(entries[2], "summary"));
        Assert.Equal("auto_publish: true → false; tag_pattern: v* → release-*", S(entries[1], "summary"));
        Assert.Equal($"{repo} (skill_path .) no longer feeds entry audit-conn; its versions stay", S(entries[0], "summary"));
        Assert.DoesNotContain(await EntriesAsync(api), e => S(e, "actor_name") == "A Viewer");
    }

    [Fact]
    public async Task Sync_and_reconcile_are_recorded()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var c = await h.ConnectRepoAsync(api, "audit-sync");
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await api.PostAsync($"/api/v1/github/connections/{Guid.NewGuid()}/sync", null)).StatusCode);
        var reconcile = await api.PostAsync("/api/v1/github/reconcile", null);
        Assert.Equal(HttpStatusCode.Accepted, reconcile.StatusCode);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        var entries = await EntriesAsync(api, "?action=connection.sync");
        var sync = Assert.Single(entries);
        AssertByKey(sync, "connection.sync", "connection");
        Assert.Equal((c.ConnectionId.ToString(), c.Repo.FullName), (S(sync, "target_id"), S(sync, "target_name")));

        var reconciled = Assert.Single(await EntriesAsync(api, "?action=connection.reconcile"));
        AssertByKey(reconciled, "connection.reconcile", "connection");
        var queued = (await reconcile.Content.ReadFromJsonAsync<JsonObject>())!["queued"]!.GetValue<int>();
        Assert.Equal($"{queued} connection(s) queued", S(reconciled, "summary"));
    }

    [Fact]
    public async Task Api_key_create_and_revoke_are_recorded_for_the_member_and_a_viewer_writes_nothing()
    {
        var (orgId, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        await using var scope = h.App.Services.CreateAsyncScope();
        var keys = scope.ServiceProvider.GetRequiredService<ApiKeyService>();
        var admin = Member(orgId, MemberRole.Admin, "Ada Admin");
        var viewer = Member(orgId, MemberRole.Viewer, "Vic Viewer");

        var created = await keys.CreateAsync(admin, "ci", [SelfTuneClaims.RegistryRead, SelfTuneClaims.RegistryPush], expiresAt: null);
        await keys.RevokeAsync(admin, created.Key.Id);
        await keys.RevokeAsync(admin, created.Key.Id); // already revoked: nothing changes
        Assert.Equal(403, (await Assert.ThrowsAsync<SelfTune.Admin.Infrastructure.ProblemException>(() =>
            keys.CreateAsync(viewer, "nope", [SelfTuneClaims.RegistryRead], null))).Status);
        Assert.Equal(403, (await Assert.ThrowsAsync<SelfTune.Admin.Infrastructure.ProblemException>(() => keys.RevokeAsync(viewer, created.Key.Id))).Status);

        var entries = await EntriesAsync(api, "?target_type=api_key");
        Assert.Equal(["api_key.revoke", "api_key.create"], entries.Select(e => S(e, "action")));
        Assert.All(entries, e => Assert.Equal(("member", "Ada Admin", "ci", created.Key.Id.ToString()),
            (S(e, "actor_kind"), S(e, "actor_name"), S(e, "target_name"), S(e, "target_id"))));
        Assert.Equal($"{created.Key.Prefix}…, permissions registry:read registry:push, expires never", S(entries[1], "summary"));
        Assert.Equal("status: active → revoked", S(entries[0], "summary"));
        Assert.DoesNotContain(created.Secret, string.Join(" ", entries.Select(e => e.ToJsonString())));
    }

    [Fact]
    public async Task Audit_entries_are_never_edited_or_deleted()
    {
        var (orgId, _) = await h.App.CreateOrgAsync(Plan.Pro);
        var entryId = await h.App.WithDbAsync(async db =>
        {
            var entry = SelfTune.Admin.Audit.AuditLog.Record(db, Actor.System(orgId), DateTimeOffset.UtcNow, "connection.sync", "connection", null, "x", "as it was");
            await db.SaveChangesAsync();
            return entry.Id;
        });

        await h.App.WithDbAsync(async db =>
        {
            var entry = await db.AuditEntries.SingleAsync(a => a.Id == entryId);
            entry.Summary = "rewritten";
            Assert.Contains("never edited", (await Assert.ThrowsAsync<InvalidOperationException>(() => db.SaveChangesAsync())).Message);
            db.ChangeTracker.Clear();
            db.AuditEntries.Remove(await db.AuditEntries.SingleAsync(a => a.Id == entryId));
            Assert.Contains("never edited", (await Assert.ThrowsAsync<InvalidOperationException>(() => db.SaveChangesAsync())).Message);
            return 0;
        });
        var stored = await h.App.WithDbAsync(db => db.AuditEntries.AsNoTracking().SingleAsync(a => a.Id == entryId));
        Assert.Equal("as it was", stored.Summary);

        // And the API has no way to change one.
        using var api = h.App.CreateClient(h.App.DevelopmentKey);
        foreach (var method in new[] { HttpMethod.Put, HttpMethod.Patch, HttpMethod.Delete, HttpMethod.Post })
            Assert.Equal(HttpStatusCode.MethodNotAllowed, (await api.SendAsync(new HttpRequestMessage(method, "/api/v1/audit"))).StatusCode);
        Assert.Contains((await api.DeleteAsync($"/api/v1/audit/{entryId}")).StatusCode, new[] { HttpStatusCode.NotFound, HttpStatusCode.MethodNotAllowed });
        Assert.Equal("as it was", (await h.App.WithDbAsync(db => db.AuditEntries.AsNoTracking().SingleAsync(a => a.Id == entryId))).Summary);
    }

    /// <summary>A signed-in member as the services see one (the claims MemberDirectory gives).</summary>
    static ClaimsPrincipal Member(Guid orgId, MemberRole role, string name) => new(new ClaimsIdentity([
        new(ClaimTypes.Name, name),
        new(SelfTuneClaims.OrgId, orgId.ToString()),
        new(SelfTuneClaims.ActorId, Guid.NewGuid().ToString()),
        new(SelfTuneClaims.Role, role.ToString()),
    ], "test"));
}
