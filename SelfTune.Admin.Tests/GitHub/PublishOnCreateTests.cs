using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 13: creating a connection publishes at once what the preview promised (the default branch head and the newest
/// matching tag), without waiting for a webhook; and the Deliveries API says what a delivery came to once its attempts
/// have finished, not "queued".
/// </summary>
public sealed class PublishOnCreateTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task Creating_a_connection_publishes_the_head_and_the_newest_matching_tag_without_any_webhook()
    {
        var (_, key) = await h.App.CreateOrgAsync(Plan.Pro);
        using var api = h.App.CreateClient(key);
        var installation = h.GitHub.AddInstallation("oncreate-co");
        var repo = h.GitHub.AddRepo(installation, installation.AccountLogin, "first-version");
        h.GitHub.PushTag(repo, "v1.0.0", h.GitHub.PushCommit(repo, "release", GitHubHarness.Skill("first-version", extra: "1.0.0")));
        h.GitHub.PushTag(repo, "v1.1.0", h.GitHub.PushCommit(repo, "release", GitHubHarness.Skill("first-version", extra: "1.1.0")));
        h.GitHub.PushTag(repo, "nightly", h.GitHub.PushCommit(repo, "release", GitHubHarness.Skill("first-version", extra: "nightly")));
        var head = h.GitHub.PushCommit(repo, "main", GitHubHarness.Skill("first-version"));
        await h.BindAsync(api, installation);
        var entryId = await h.CreateEntryAsync(api, "first-version");

        var connection = await h.ConnectAsync(api, entryId, installation, repo);

        var connectionId = Guid.Parse(connection["id"]!.GetValue<string>());
        var attempts = await h.WaitForFinishedAttemptsAsync(connectionId, 2);
        Assert.All(attempts, a => Assert.True(a.Status == AttemptStatus.Published, $"{a.SourceRef}: {a.Status} {a.Message}"));
        Assert.All(attempts, a => Assert.Equal(AttemptTrigger.Manual, a.Trigger)); // the first sync, asked for by whoever created it
        Assert.All(attempts, a => Assert.Null(a.DeliveryId));
        var versions = (await GitHubHarness.VersionsAsync(api, entryId))
            .ToDictionary(v => v["version"]!.GetValue<string>(), v => v["source_ref"]!.GetValue<string>());
        Assert.Equal(new Dictionary<string, string> { [$"0.0.0-github.{head[..7]}"] = head, ["1.1.0"] = "v1.1.0" }, versions);
        Assert.Equal(0, await h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.RepositoryId == repo.Id)));

        // The connection object now names the first sync as its last attempt.
        var read = await GitHubHarness.GetConnectionAsync(api, connectionId);
        Assert.Equal("manual", read["last_attempt"]!["trigger"]!.GetValue<string>());
        Assert.Equal("published", read["last_attempt"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_create_response_is_the_seeds_connection_object_and_the_sync_is_queued_with_it()
    {
        var c = await h.ConnectRepoAsync(h.Api, "create-shape", firstSync: true);

        // As the seed documents: the connection object with 201; the sync's attempt is not part of it.
        Assert.Equal(c.ConnectionId.ToString(), c.Connection["id"]!.GetValue<string>());
        Assert.True(c.Connection["auto_publish"]!.GetValue<bool>());
        Assert.True(c.Connection.ContainsKey("last_attempt"));
        var key = PublishJobs.ConcurrencyKey(c.ConnectionId);
        var jobs = await h.App.WithDbAsync(db => db.Jobs.AsNoTracking().Where(j => j.ConcurrencyKey == key).ToListAsync());
        var sync = Assert.Single(jobs);
        Assert.Equal(PublishJobs.Sync, sync.Kind);

        var attempts = await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);
        var published = Assert.Single(attempts);
        Assert.Equal(AttemptStatus.Published, published.Status);
        Assert.Equal(c.Sha, published.SourceRef);
        Assert.Equal(c.Sha, Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId))["source_ref"]!.GetValue<string>());
    }

    [Fact]
    public async Task With_auto_publish_off_creating_publishes_nothing_until_someone_syncs()
    {
        var c = await h.ConnectRepoAsync(h.Api, "create-manual", new { auto_publish = false });

        // "Off" promises that nothing publishes by itself: no job was queued, so there is nothing to wait for.
        var key = PublishJobs.ConcurrencyKey(c.ConnectionId);
        Assert.False(await h.App.WithDbAsync(db => db.Jobs.AnyAsync(j => j.ConcurrencyKey == key)));
        Assert.Empty(await h.AttemptsAsync(c.ConnectionId));
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));

        using var sync = await h.Api.PostAsync($"/api/v1/github/connections/{c.ConnectionId}/sync", null);
        Assert.Equal(HttpStatusCode.OK, sync.StatusCode);
        Assert.Equal(c.Sha, Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId))["source_ref"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_connection_whose_repository_cannot_be_read_shows_why_its_first_sync_failed()
    {
        var installation = h.GitHub.AddInstallation("gh-create-empty");
        var repo = h.GitHub.AddRepo(installation, installation.AccountLogin, "create-empty"); // no commit on main yet
        await h.BindAsync(h.Api, installation);
        var entryId = await h.CreateEntryAsync(h.Api, "create-empty");

        var connectionId = Guid.Parse((await h.ConnectAsync(h.Api, entryId, installation, repo))["id"]!.GetValue<string>());

        var failed = Assert.Single(await h.WaitForFinishedAttemptsAsync(connectionId, 1));
        Assert.Equal(AttemptStatus.Failed, failed.Status);
        Assert.StartsWith($"Could not read {repo.FullName} from GitHub", failed.Message);
        Assert.Empty(await GitHubHarness.VersionsAsync(h.Api, entryId));
    }

    // ---------------------------------------------------------------- What a delivery came to

    async Task<JsonElement> DeliveryAsync(string deliveryId)
    {
        var rowId = (await h.WaitForDeliveryAsync(deliveryId)).Id;
        return await ExpectJsonAsync(await h.Api.GetAsync($"/api/v1/github/deliveries/{rowId}"), HttpStatusCode.OK);
    }

    async Task<string?> ListedMessageAsync(string deliveryId)
    {
        var list = await ExpectJsonAsync(await h.Api.GetAsync("/api/v1/github/deliveries?limit=200"), HttpStatusCode.OK);
        return list.GetProperty("deliveries").EnumerateArray().Single(d => d.GetProperty("delivery_id").GetString() == deliveryId)
            .GetProperty("outcome_message").GetString();
    }

    [Fact]
    public async Task A_push_delivery_says_which_version_it_published_once_its_attempt_has_finished()
    {
        var c = await h.ConnectRepoAsync(h.Api, "result-published", firstSync: true);
        var next = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill("result-published", extra: "v2"));

        var deliveryId = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", next);
        await h.WaitForDeliveryAsync(deliveryId);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        var expected = $"Published 0.0.0-github.{next[..7]} to result-published.";
        var one = await DeliveryAsync(deliveryId);
        Assert.Equal("processed", one.GetProperty("outcome").GetString());
        Assert.Equal(expected, one.GetProperty("outcome_message").GetString());
        Assert.Equal(expected, await ListedMessageAsync(deliveryId));
    }

    [Fact]
    public async Task A_push_of_what_is_already_published_says_unchanged()
    {
        var c = await h.ConnectRepoAsync(h.Api, "result-unchanged", firstSync: true); // the first sync published the head

        var deliveryId = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        await h.WaitForDeliveryAsync(deliveryId);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        Assert.Equal($"Unchanged: 0.0.0-github.{c.Sha[..7]} of result-unchanged is already published from the same content.",
            (await DeliveryAsync(deliveryId)).GetProperty("outcome_message").GetString());
    }

    [Fact]
    public async Task A_push_that_fails_to_publish_says_why()
    {
        var c = await h.ConnectRepoAsync(h.Api, "result-failed", firstSync: true);
        var files = GitHubHarness.Skill("result-failed");
        files["keys/id_rsa"] = "-----BEGIN OPENSSH PRIVATE KEY-----"u8.ToArray();
        var next = h.GitHub.PushCommit(c.Repo, "main", files);

        var deliveryId = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", next);
        await h.WaitForDeliveryAsync(deliveryId);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);

        var message = (await DeliveryAsync(deliveryId)).GetProperty("outcome_message").GetString()!;
        Assert.StartsWith("Failed to publish to result-failed: ", message);
        Assert.Contains("keys/id_rsa", message);
    }

    [Fact]
    public async Task A_tag_that_no_pattern_matches_names_the_pattern_it_missed()
    {
        var c = await h.ConnectRepoAsync(h.Api, "result-pattern", new { tag_pattern = "release-*" });
        h.GitHub.PushTag(c.Repo, "v1", c.Sha);

        var created = await DeliveryAsync(await h.SendAsync("create", h.GitHub.Payloads.Create(c.Repo, "v1")));
        var pushed = await DeliveryAsync(await h.SendPushAsync(c.Installation, c.Repo, "refs/tags/v1", c.Sha));

        Assert.Equal("Tag v1 does not match the tag pattern 'release-*'.", created.GetProperty("outcome_message").GetString());
        Assert.Equal("Tag v1 does not match the tag pattern 'release-*'.", pushed.GetProperty("outcome_message").GetString());
    }
}

/// <summary>
/// The first sync is queued in the transaction that stores the connection: an app that stops before running it (here one
/// whose worker is off, the same as a crash right after the commit) leaves the job in the database, and the next instance
/// on that database publishes.
/// </summary>
public sealed class PublishOnCreateRecoveryTests : IAsyncLifetime
{
    readonly string dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", "oncreate-" + Guid.NewGuid().ToString("N"));
    FakeGitHub gh = null!;

    public async Task InitializeAsync()
    {
        gh = await FakeGitHub.StartAsync();
        gh.SetupUrl = new Uri("http://localhost/settings/github");
    }

    public async Task DisposeAsync()
    {
        await gh.DisposeAsync();
        TestDatabase.Drop(dataPath);
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    AdminAppFactory App(bool worker)
    {
        var app = new AdminAppFactory(dataPath);
        foreach (var (k, v) in GitHubHarness.Settings(gh)) app.Settings[k] = v;
        app.Settings["GitHub:TrustApiKeyBinding"] = "true"; // no browser here for GitHub's callback
        app.Settings["Jobs:Enabled"] = worker ? "true" : "false";
        return app;
    }

    [Fact]
    public async Task A_connection_created_by_an_app_that_stopped_before_its_first_sync_is_published_by_the_next_one()
    {
        var installation = gh.AddInstallation("restart-co");
        var repo = gh.AddRepo(installation, installation.AccountLogin, "after-restart");
        var head = gh.PushCommit(repo, "main", GitHubHarness.Skill("after-restart"));
        string entryId;
        Guid connectionId;
        await using (var first = App(worker: false))
        {
            using var api = first.CreateClient(first.DevelopmentKey);
            await GitHubHarness.BindByApiKeyAsync(gh, api, installation);
            var entry = await api.PostAsJsonAsync("/api/v1/registry", new { name = "after-restart", description = "test" });
            entryId = (await entry.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
            var created = await api.PostAsJsonAsync("/api/v1/github/connections",
                new { entry_id = entryId, installation_id = installation.Id, repo_full_name = repo.FullName });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            connectionId = Guid.Parse((await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>());
            Assert.Equal(0, await first.WithDbAsync(db => db.Attempts.CountAsync(a => a.ConnectionId == connectionId)));
        }

        await using var second = App(worker: true);
        using var api2 = second.CreateClient(second.DevelopmentKey);
        var key = PublishJobs.ConcurrencyKey(connectionId);
        var job = await second.WithDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.ConcurrencyKey == key));
        var done = await second.Services.GetRequiredService<JobQueue>().WaitForCompletionAsync(job.Id, TimeSpan.FromSeconds(60));

        Assert.Equal(JobState.Succeeded, done.State);
        var version = Assert.Single(await GitHubHarness.VersionsAsync(api2, entryId));
        Assert.Equal($"0.0.0-github.{head[..7]}", version["version"]!.GetValue<string>());
        Assert.Equal(head, version["source_ref"]!.GetValue<string>());
    }
}
