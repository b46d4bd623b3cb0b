using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Audit;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Tests.GitHub;
using SelfTune.Admin.Tests.Packaging;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// SPEC section 10, issue 13: withdrawing without deleting. A yanked version stays downloadable by its exact version, shows
/// its reason and is never <c>latest</c>, whatever is published after it (a lower version, a GitHub push or tag); un-yanking
/// restores it. An entry is deprecated with a message. Owners, admins and push keys only, each change audited.
/// </summary>
public sealed class WithdrawTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    HttpClient Acme => h.Api;

    async Task<string> EntryWithVersionsAsync(string name, string visibility, params string[] versions)
    {
        var id = (await CreateEntryAsync(Acme, name, visibility)).GetProperty("id").GetString()!;
        foreach (var version in versions) await PushAsync(Acme, id, version, SkillArchive(name + version));
        return id;
    }

    Task<JsonElement> YankAsync(string id, string version, string reason, HttpStatusCode expected = HttpStatusCode.OK) =>
        Acme.PostAsJsonAsync($"/api/v1/registry/{id}/versions/{version}/yank", new { reason }).ContinueWith(t => ExpectJsonAsync(t.Result, expected)).Unwrap();

    async Task<string?> LatestAsync(string id) =>
        (await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK)).GetProperty("latest_version").GetString();

    async Task<Dictionary<string, JsonElement>> ListedVersionsAsync(string id) =>
        (await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK))
            .GetProperty("versions").EnumerateArray().ToDictionary(v => v.GetProperty("version").GetString()!);

    [Fact]
    public async Task Yanking_the_latest_moves_latest_to_the_highest_version_not_yanked_and_the_yanked_one_stays_downloadable()
    {
        var name = UniqueName("yank");
        var id = await EntryWithVersionsAsync(name, "public", "1.0.0", "2.0.0");
        Assert.Equal("2.0.0", await LatestAsync(id));

        var yanked = await YankAsync(id, "2.0.0", "Leaks a token in scripts/run.sh; use 1.0.0.");

        Assert.True(yanked.GetProperty("yanked").GetBoolean());
        Assert.Equal("Leaks a token in scripts/run.sh; use 1.0.0.", yanked.GetProperty("yanked_reason").GetString());
        AssertUtcTimestamp(yanked.GetProperty("yanked_at"));
        Assert.Equal("1.0.0", await LatestAsync(id));
        // The public list (no key) agrees.
        var listed = await ExpectJsonAsync(await h.App.CreateClient(apiKey: null).GetAsync($"/api/v1/public/registry?name={name}"), HttpStatusCode.OK);
        Assert.Equal("1.0.0", Assert.Single(listed.GetProperty("entries").EnumerateArray()).GetProperty("latest_version").GetString());

        // The version list and the version itself show the reason; the other version is not yanked.
        var versions = await ListedVersionsAsync(id);
        Assert.True(versions["2.0.0"].GetProperty("yanked").GetBoolean());
        Assert.Equal("Leaks a token in scripts/run.sh; use 1.0.0.", versions["2.0.0"].GetProperty("yanked_reason").GetString());
        Assert.False(versions["1.0.0"].GetProperty("yanked").GetBoolean());
        Assert.Equal(JsonValueKind.Null, versions["1.0.0"].GetProperty("yanked_at").ValueKind);
        var one = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions/2.0.0"), HttpStatusCode.OK);
        Assert.Equal("Leaks a token in scripts/run.sh; use 1.0.0.", one.GetProperty("yanked_reason").GetString());

        // Still downloadable by its exact version: the same bytes.
        var archive = await Acme.GetAsync($"/api/v1/registry/{id}/versions/2.0.0/archive");
        Assert.Equal(HttpStatusCode.OK, archive.StatusCode);
        Assert.Equal(one.GetProperty("content_hash").GetString(), Sha256Hex(await archive.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task Publishing_after_a_yank_never_makes_the_yanked_version_latest_and_unyanking_restores_it()
    {
        var id = await EntryWithVersionsAsync(UniqueName("later"), "org", "1.0.0");
        var twoArchive = SkillArchive("2.0.0");
        await PushAsync(Acme, id, "2.0.0", twoArchive);
        await YankAsync(id, "2.0.0", "Broken on Windows.");

        await PushAsync(Acme, id, "1.5.0", SkillArchive("1.5.0"));
        Assert.Equal("1.5.0", await LatestAsync(id)); // the highest not yanked
        await PushAsync(Acme, id, "0.9.0", SkillArchive("0.9.0"));
        Assert.Equal("1.5.0", await LatestAsync(id)); // a lower version does not become latest
        await PushAsync(Acme, id, "3.0.0-beta.1", SkillArchive("beta"));
        Assert.Equal("1.5.0", await LatestAsync(id)); // nor a prerelease while a release is there
        // Pushing the yanked version's content again is "unchanged": it stays yanked, and not latest.
        var again = await PushAsync(Acme, id, "2.0.0", twoArchive, HttpStatusCode.OK);
        Assert.True(again.GetProperty("yanked").GetBoolean());
        Assert.Equal("1.5.0", await LatestAsync(id));

        var unyanked = await ExpectJsonAsync(await Acme.DeleteAsync($"/api/v1/registry/{id}/versions/2.0.0/yank"), HttpStatusCode.OK);

        Assert.False(unyanked.GetProperty("yanked").GetBoolean());
        Assert.Equal(JsonValueKind.Null, unyanked.GetProperty("yanked_reason").ValueKind);
        Assert.Equal("2.0.0", await LatestAsync(id));
    }

    [Fact]
    public async Task With_every_version_yanked_there_is_no_latest_and_the_newest_prerelease_is_latest_when_no_release_is_left()
    {
        var id = await EntryWithVersionsAsync(UniqueName("none"), "org", "1.0.0");
        await YankAsync(id, "1.0.0", "Withdrawn.");
        Assert.Null(await LatestAsync(id));
        Assert.Equal(HttpStatusCode.OK, (await Acme.GetAsync($"/api/v1/registry/{id}/versions/1.0.0/archive")).StatusCode);

        await PushAsync(Acme, id, "1.1.0-rc.1", SkillArchive("rc"));
        Assert.Equal("1.1.0-rc.1", await LatestAsync(id));
    }

    [Fact]
    public async Task A_GitHub_push_and_a_sync_after_a_yank_never_make_the_yanked_release_latest()
    {
        var c = await h.ConnectRepoAsync(Acme, "withdraw-gh");
        h.GitHub.PushTag(c.Repo, "v1.0.0", c.Sha);
        await DeliveredAsync(c.ConnectionId, await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1.0.0", c.Sha));
        Assert.Equal("1.0.0", await LatestAsync(c.EntryId));

        await YankAsync(c.EntryId, "1.0.0", "Published from the wrong folder.");
        Assert.NotEqual("1.0.0", await LatestAsync(c.EntryId));

        // A new commit on main publishes its commit prerelease: the only version not yanked, so latest.
        var sha = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("withdraw-gh", extra: "fixed"));
        await DeliveredAsync(c.ConnectionId, await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", sha));
        Assert.Equal(RegistryVersion.ForCommit(sha), await LatestAsync(c.EntryId));
        // Sync now re-reads the branch and the tags: the release is already there and is not published again.
        Assert.Equal(HttpStatusCode.OK, (await Acme.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null)).StatusCode);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        Assert.Single(await h.AttemptsAsync(c.ConnectionId), a => a.Status == AttemptStatus.Published && a.Version == "1.0.0");
        Assert.Equal(RegistryVersion.ForCommit(sha), await LatestAsync(c.EntryId));
        Assert.True((await ListedVersionsAsync(c.EntryId))["1.0.0"].GetProperty("yanked").GetBoolean());
    }

    // The delivery's webhook job, then the publish jobs it queued for the connection.
    async Task DeliveredAsync(Guid connectionId, string deliveryId)
    {
        await h.WaitForDeliveryAsync(deliveryId);
        await h.WaitForConnectionJobsAsync(connectionId);
    }

    [Fact]
    public async Task A_yank_needs_a_reason_of_at_most_500_characters_and_an_existing_version()
    {
        var id = await EntryWithVersionsAsync(UniqueName("reason"), "org", "1.0.0");

        var missing = await ExpectProblemAsync(await Acme.PostAsJsonAsync($"/api/v1/registry/{id}/versions/1.0.0/yank", new { }), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("Say why the version is withdrawn, in 1 to 500 characters.", missing.GetProperty("detail").GetString());
        await ExpectProblemAsync(await Acme.PostAsJsonAsync($"/api/v1/registry/{id}/versions/1.0.0/yank", new { reason = "   " }), HttpStatusCode.BadRequest, "invalid_request");
        await ExpectProblemAsync(await Acme.PostAsJsonAsync($"/api/v1/registry/{id}/versions/1.0.0/yank", new { reason = new string('x', 501) }), HttpStatusCode.BadRequest, "invalid_request");
        var unknown = await ExpectProblemAsync(await Acme.PostAsJsonAsync($"/api/v1/registry/{id}/versions/9.9.9/yank", new { reason = "x" }), HttpStatusCode.NotFound, "not_found");
        Assert.Contains("has no version '9.9.9'", unknown.GetProperty("detail").GetString());

        Assert.False((await ListedVersionsAsync(id))["1.0.0"].GetProperty("yanked").GetBoolean());
        Assert.Equal("1.0.0", await LatestAsync(id));
    }

    [Fact]
    public async Task A_read_only_key_and_another_orgs_key_are_refused_and_nothing_changes()
    {
        var id = await EntryWithVersionsAsync(UniqueName("refused"), "public", "1.0.0");
        var readOnly = h.App.CreateClient(await h.App.CreateKeyAsync(await h.App.AcmeOrgIdAsync(), [SelfTuneClaims.RegistryRead]));
        var (_, otherKey) = await h.App.CreateOrgAsync(Plan.Pro, SelfTuneClaims.RegistryRead, SelfTuneClaims.RegistryPush);
        var other = h.App.CreateClient(otherKey);

        foreach (var client in new[] { readOnly, other })
        {
            var expected = client == readOnly ? HttpStatusCode.Forbidden : HttpStatusCode.NotFound;
            var code = client == readOnly ? "forbidden" : "not_found";
            var yank = await ExpectProblemAsync(await client.PostAsJsonAsync($"/api/v1/registry/{id}/versions/1.0.0/yank", new { reason = "mine now" }), expected, code);
            if (client == readOnly) Assert.Equal("The API key lacks the 'registry:push' permission.", yank.GetProperty("detail").GetString());
            await ExpectProblemAsync(await client.DeleteAsync($"/api/v1/registry/{id}/versions/1.0.0/yank"), expected, code);
            await ExpectProblemAsync(await client.PostAsJsonAsync($"/api/v1/registry/{id}/deprecate", new { message = "gone" }), expected, code);
            await ExpectProblemAsync(await client.DeleteAsync($"/api/v1/registry/{id}/deprecate"), expected, code);
        }

        var entry = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.False(entry.GetProperty("deprecated").GetBoolean());
        Assert.Equal("1.0.0", entry.GetProperty("latest_version").GetString());
    }

    [Theory]
    [InlineData(MemberRole.Member, "member")]
    [InlineData(MemberRole.Viewer, "viewer")]
    public async Task Members_and_viewers_are_refused_in_words_whoever_calls_the_service(MemberRole role, string roleWord)
    {
        var id = Guid.Parse(await EntryWithVersionsAsync(UniqueName("role"), "org", "1.0.0"));
        var actor = new Actor(await h.App.AcmeOrgIdAsync(), Guid.NewGuid(), role);
        var withdrawals = h.App.Services.GetRequiredService<WithdrawalService>();

        async Task RefusedAsync(Func<Task> call, string action)
        {
            var refused = await Assert.ThrowsAsync<ProblemException>(call);
            Assert.Equal(403, refused.Status);
            Assert.Equal($"Only admins and owners can {action}; your role is {roleWord}.", refused.Message);
        }

        await RefusedAsync(() => withdrawals.YankAsync(actor, id, "1.0.0", "no"), "yank versions");
        await RefusedAsync(() => withdrawals.UnyankAsync(actor, id, "1.0.0"), "un-yank versions");
        await RefusedAsync(() => withdrawals.DeprecateAsync(actor, id, "no"), "deprecate entries");
        await RefusedAsync(() => withdrawals.UndeprecateAsync(actor, id), "remove deprecations");
        Assert.False(await h.App.WithDbAsync(db => db.Versions.AnyAsync(v => v.EntryId == id && v.YankedAt != null)));
    }

    [Fact]
    public async Task Deprecating_shows_the_message_on_the_entry_and_in_the_lists_and_delete_removes_it()
    {
        var name = UniqueName("old");
        var id = await EntryWithVersionsAsync(name, "public", "1.0.0");

        var deprecated = await ExpectJsonAsync(await Acme.PostAsJsonAsync($"/api/v1/registry/{id}/deprecate",
            new { message = "Use pdf-tools instead." }), HttpStatusCode.OK);

        Assert.True(deprecated.GetProperty("deprecated").GetBoolean());
        Assert.Equal("Use pdf-tools instead.", deprecated.GetProperty("deprecation_message").GetString());
        AssertUtcTimestamp(deprecated.GetProperty("deprecated_at"));
        var read = await ExpectJsonAsync(await h.App.CreateClient(apiKey: null).GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.Equal("Use pdf-tools instead.", read.GetProperty("deprecation_message").GetString());
        var listed = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry?name={name}"), HttpStatusCode.OK);
        Assert.True(Assert.Single(listed.GetProperty("entries").EnumerateArray()).GetProperty("deprecated").GetBoolean());
        // Still installable: latest and its archive are unchanged.
        Assert.Equal("1.0.0", read.GetProperty("latest_version").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Acme.GetAsync($"/api/v1/registry/{id}/versions/1.0.0/archive")).StatusCode);

        await ExpectProblemAsync(await Acme.PostAsJsonAsync($"/api/v1/registry/{id}/deprecate", new { message = "" }), HttpStatusCode.BadRequest, "invalid_request");

        var restored = await ExpectJsonAsync(await Acme.DeleteAsync($"/api/v1/registry/{id}/deprecate"), HttpStatusCode.OK);
        Assert.False(restored.GetProperty("deprecated").GetBoolean());
        Assert.Equal(JsonValueKind.Null, restored.GetProperty("deprecation_message").ValueKind);
        Assert.Equal(JsonValueKind.Null, restored.GetProperty("deprecated_at").ValueKind);
    }

    [Fact]
    public async Task Yanks_and_deprecations_are_in_the_audit_log_with_who_what_and_the_latest_they_moved()
    {
        var name = UniqueName("audit");
        var id = await EntryWithVersionsAsync(name, "org", "1.0.0", "2.0.0");

        await YankAsync(id, "2.0.0", "Breaks the build.");
        await YankAsync(id, "2.0.0", "Breaks the build."); // the same again changes nothing: no second entry
        await Acme.DeleteAsync($"/api/v1/registry/{id}/versions/2.0.0/yank");
        await Acme.PostAsJsonAsync($"/api/v1/registry/{id}/deprecate", new { message = "Merged into pdf-tools." });
        await Acme.DeleteAsync($"/api/v1/registry/{id}/deprecate");

        var entries = await h.App.WithDbAsync(db => db.AuditEntries.AsNoTracking()
            .Where(a => a.TargetName == name || a.TargetName.StartsWith(name + "@")).ToListAsync());
        var byAction = entries.OrderBy(a => a.At).ThenBy(a => a.Action).ToDictionary(a => a.Action);
        Assert.Equal(["entry.deprecate", "entry.undeprecate", "version.unyank", "version.yank"], byAction.Keys.Order());
        Assert.All(entries, a => Assert.Equal(AuditActorKind.ApiKey, a.ActorKind));
        var yank = byAction["version.yank"];
        Assert.Equal("version", yank.TargetType);
        Assert.Equal($"{name}@2.0.0", yank.TargetName);
        Assert.Equal("reason: Breaks the build.; latest: 2.0.0 → 1.0.0", yank.Summary);
        Assert.Equal("was yanked: Breaks the build.; latest: 1.0.0 → 2.0.0", byAction["version.unyank"].Summary);
        Assert.Equal("entry", byAction["entry.deprecate"].TargetType);
        Assert.Equal("message: Merged into pdf-tools.", byAction["entry.deprecate"].Summary);
    }

    [Fact]
    public async Task Agent_Skills_warnings_are_kept_with_the_version_and_returned_by_the_api()
    {
        var name = UniqueName("warn");
        var id = (await CreateEntryAsync(Acme, name)).GetProperty("id").GetString()!;
        var odd = new TarBuilder().File("SKILL.md", "---\nname: other-name\ndescription: A skill.\nuser-invocable: true\n---\n# Skill\n").ToTarGz();
        var clean = new TarBuilder().File("SKILL.md", $"---\nname: {name}\ndescription: A skill.\n---\n# Skill\n").ToTarGz();

        var pushed = await PushAsync(Acme, id, "1.0.0", odd);
        await PushAsync(Acme, id, "1.0.1", clean);

        var warnings = pushed.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("('user-invocable')"));
        Assert.Contains(warnings, w => w.Contains($"names the skill \"other-name\" but the registry entry is \"{name}\""));
        var listed = await ListedVersionsAsync(id);
        Assert.Equal(warnings, listed["1.0.0"].GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!));
        Assert.Equal(0, listed["1.0.1"].GetProperty("warnings").GetArrayLength());
    }

    [Theory]
    [InlineData("2.0.0", "1.0.0,2.0.0,3.0.0-beta.1")] // a release beats a newer prerelease
    [InlineData("1.0.0", "1.0.0,2.0.0!,3.0.0-beta.1")] // the highest release is yanked
    [InlineData("3.0.0-beta.1", "1.0.0!,3.0.0-beta.1,3.0.0-beta.2!")] // no release left: the newest prerelease not yanked
    [InlineData("0.0.0-github.abcdef1", "0.0.0-github.fedcba9,0.0.0-github.abcdef1")] // the newest by time, not by text
    [InlineData(null, "1.0.0!,2.0.0-rc.1!")] // everything yanked
    public void The_one_rule_for_latest_skips_yanked_versions(string? latest, string versions)
    {
        var at = DateTimeOffset.Parse("2026-01-01T00:00:00Z");
        var candidates = versions.Split(',').Select((v, i) => new LatestCandidate(Guid.NewGuid(), v.TrimEnd('!'), at.AddMinutes(i), v.EndsWith('!'))).ToList();
        Assert.Equal(latest, RegistryService.ChooseLatest(candidates));
    }
}
