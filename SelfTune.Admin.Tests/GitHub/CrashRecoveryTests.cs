using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// SPEC section 8: the webhook queue survives a crash. The app runs as a real child process that is killed (no graceful
/// stop) while publish jobs are mid-flight and webhook jobs are still queued, then started again on the same data
/// folder: every accepted delivery is processed and every commit and tag is published exactly once.
/// </summary>
public sealed partial class CrashRecoveryTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>A killed run's claims hold this long for other instances (the restarted app takes them back at once).</summary>
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    // The child process's change feed is in another process, so there is no event to wait on: these waits are
    // bounded polls of the app's API and of its database file (opened read-only).
    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    FakeGitHub gh = null!;
    readonly string dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", "crash-" + Guid.NewGuid().ToString("N"));
    readonly string apiKey = ApiKeyFormat.Generate();
    readonly List<AppProcess> apps = [];

    public async Task InitializeAsync()
    {
        gh = await FakeGitHub.StartAsync();
        gh.SetupUrl = new Uri("http://localhost/settings/github");
    }

    public async Task DisposeAsync()
    {
        foreach (var app in apps)
        {
            await app.DisposeAsync();
            output.WriteLine($"---- app pid {app.ProcessId} ----\n{app.Output}");
        }
        await gh.DisposeAsync();
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public async Task Killing_the_app_with_jobs_in_flight_and_queued_then_restarting_publishes_every_accepted_delivery_exactly_once()
    {
        var clock = Stopwatch.StartNew();
        var installation = gh.AddInstallation("crash-co");
        var alpha = gh.AddRepo(installation, "crash-co", "alpha");
        var beta = gh.AddRepo(installation, "crash-co", "beta");

        // ---- Run 1: two worker slots, both stuck in a tarball download that does not answer for minutes.
        var stall = gh.InjectFault(Fault.Timeout("/tarball/", TimeSpan.FromMinutes(5), times: 2));
        var first = await StartAppAsync(workers: 2, attemptTimeout: TimeSpan.FromMinutes(2), Lease);
        Log($"run 1 ready (pid {first.ProcessId})", clock);
        using var api1 = first.CreateClient(apiKey);
        await BindAsync(api1, installation);
        var alphaEntry = await CreateEntryAsync(api1, "alpha");
        var betaEntry = await CreateEntryAsync(api1, "beta");
        var alphaConnection = await ConnectAsync(api1, alphaEntry, installation, alpha, writeBack: true);
        var betaConnection = await ConnectAsync(api1, betaEntry, installation, beta, writeBack: false);

        // What GitHub was told to deliver, and what each delivery must publish in the end.
        var sent = new List<(string DeliveryId, Guid Connection, string Version, string SourceRef)>();
        async Task PushAsync(AppProcess app, FakeRepo repo, Guid connection, string refName, string sha, string version, string sourceRef)
        {
            var deliveryId = Guid.NewGuid().ToString();
            using var response = await SendWebhookAsync(app, "push", gh.Payloads.Push(repo, refName, after: sha), deliveryId);
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{refName}@{sha[..7]}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            sent.Add((deliveryId, connection, version, sourceRef));
        }
        async Task CommitAsync(AppProcess app, FakeRepo repo, Guid connection, int revision)
        {
            var sha = gh.PushCommit(repo, "main", GitHubHarness.Skill(repo.Name, extra: $"revision {revision}"));
            await PushAsync(app, repo, connection, "refs/heads/main", sha, PublishService.PrereleasePrefix + sha[..7], sha);
        }
        async Task TagAsync(AppProcess app, FakeRepo repo, Guid connection, string tag)
        {
            var sha = repo.Branches["main"];
            gh.PushTag(repo, tag, sha);
            await PushAsync(app, repo, connection, "refs/tags/" + tag, sha, tag[1..], tag);
        }

        // One push per repository: each is processed and its publish job claimed, then hangs on the tarball.
        await CommitAsync(first, alpha, alphaConnection, 1);
        await CommitAsync(first, beta, betaConnection, 1);
        await WaitUntilAsync(async () => stall.Remaining == 0
                && (await AttemptsAsync(api1, alphaConnection)).Any(a => Status(a) == "running")
                && (await AttemptsAsync(api1, betaConnection)).Any(a => Status(a) == "running"),
            TimeSpan.FromSeconds(20), () => "both publish jobs to be running and stuck in the tarball download", first);

        // Six more deliveries: accepted and stored, but no slot is free to process them.
        for (var i = 2; i <= 4; i++) await CommitAsync(first, alpha, alphaConnection, i);
        await TagAsync(first, alpha, alphaConnection, "v1.0.0");
        await CommitAsync(first, beta, betaConnection, 2);
        await TagAsync(first, beta, betaConnection, "v2.0.0");
        Assert.Equal(8, sent.Count);

        // The state a crash has to recover from, as stored.
        await ReadDbAsync(async db =>
        {
            var deliveries = await db.Deliveries.AsNoTracking().ToListAsync();
            Assert.Equal(sent.Select(s => s.DeliveryId).Order(), deliveries.Select(d => d.DeliveryId).Order());
            Assert.Equal(2, deliveries.Count(d => d.Outcome == DeliveryOutcome.Processed));
            Assert.Equal(6, deliveries.Count(d => d.Outcome == DeliveryOutcome.Queued));
            var jobs = await db.Jobs.AsNoTracking().ToListAsync();
            var running = jobs.Where(j => j.State == JobState.Running).ToList();
            Assert.Equal(2, running.Count);
            Assert.All(running, j => Assert.Equal(PublishJobs.Publish, j.Kind));
            Assert.All(running, j => Assert.Contains($":{first.ProcessId}:", j.LockedBy));
            Assert.Equal(6, jobs.Count(j => j.Kind == PublishJobs.Webhook && j.State == JobState.Pending));
            Assert.Equal(2, (await db.Attempts.AsNoTracking().ToListAsync()).Count(a => a.Status == AttemptStatus.Running));
            return 0;
        });
        var inFlight = await ReadDbAsync(db => db.Jobs.AsNoTracking().Where(j => j.State == JobState.Running).Select(j => j.Id).ToListAsync());

        // ---- The crash: a hard kill, nothing gets to finish or give its jobs back.
        await first.KillAsync();
        Assert.True(first.HasExited);
        var killedAt = clock.Elapsed;
        Log("run 1 killed", clock);

        // ---- Run 2 on the same data folder, with GitHub healthy again.
        gh.ClearFaults();
        // The killed run's claims come back by the check that their process is gone, not by their lease; this run's own
        // jobs keep the default lease (30 s), so a machine too busy to renew within 3 s does not run one of them twice
        // (seen once beside a build loop: a publish lost its 3 s lease after 4.8 s and ran a third time).
        var second = await StartAppAsync(workers: 4, attemptTimeout: TimeSpan.FromSeconds(3), lease: null);
        Log($"run 2 ready (pid {second.ProcessId})", clock);
        using var api2 = second.CreateClient(apiKey);
        var expectedAlpha = sent.Count(s => s.Connection == alphaConnection);
        var expectedBeta = sent.Count(s => s.Connection == betaConnection);
        var progress = "nothing read yet";
        await WaitUntilAsync(async () =>
            {
                var alphaDone = (await AttemptsAsync(api2, alphaConnection)).Count(Finished);
                var betaDone = (await AttemptsAsync(api2, betaConnection)).Count(Finished);
                var queued = await ReadDbAsync(db => db.Deliveries.CountAsync(d => d.Outcome == DeliveryOutcome.Queued));
                progress = $"alpha {alphaDone}/{expectedAlpha} and beta {betaDone}/{expectedBeta} attempts finished, {queued} deliveries still queued";
                return alphaDone >= expectedAlpha && betaDone >= expectedBeta && queued == 0;
            },
            // A bound on finishing, not a speed figure (the stall test measures that): at load 30 a publish try took 15 s here.
            TimeSpan.FromSeconds(90), () => $"{sent.Count} deliveries to be processed and their attempts finished ({progress})", second);
        Log($"all published, {(clock.Elapsed - killedAt).TotalSeconds:0.0} s after the kill", clock);

        // Every accepted delivery was processed, once.
        var stored = await ReadDbAsync(db => db.Deliveries.AsNoTracking().ToListAsync());
        Assert.Equal(sent.Select(s => s.DeliveryId).Order(), stored.Select(d => d.DeliveryId).Order());
        Assert.All(stored, d => Assert.True(d.Outcome == DeliveryOutcome.Processed, $"{d.DeliveryId}: {d.Outcome} {d.OutcomeMessage}"));

        // One attempt per delivery, all published (nothing was published before the kill), none left running.
        foreach (var (connection, entry) in new[] { (alphaConnection, alphaEntry), (betaConnection, betaEntry) })
        {
            var expected = sent.Where(s => s.Connection == connection).ToList();
            var attempts = await AttemptsAsync(api2, connection);
            Assert.Equal(expected.Select(s => s.DeliveryId).Order(), attempts.Select(a => a["delivery_id"]!.GetValue<string>()).Order());
            foreach (var attempt in attempts)
            {
                var delivery = expected.Single(s => s.DeliveryId == attempt["delivery_id"]!.GetValue<string>());
                Assert.True(Status(attempt) == "published", $"{delivery.SourceRef}: {attempt.ToJsonString()}");
                Assert.Equal(delivery.Version, attempt["version"]!.GetValue<string>());
                Assert.Equal(delivery.SourceRef, attempt["source_ref"]!.GetValue<string>());
            }

            // The registry has exactly one version per commit and per tag: no duplicate, no ".1" suffix.
            var versions = (await api2.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{entry}/versions"))!["versions"]!.AsArray();
            Assert.Equal(expected.Select(s => s.Version).Order(), versions.Select(v => v!["version"]!.GetValue<string>()).Order());
            foreach (var version in versions)
                Assert.Equal(expected.Single(s => s.Version == version!["version"]!.GetValue<string>()).SourceRef, version!["source_ref"]!.GetValue<string>());
        }

        // The two jobs the kill interrupted were taken over by the new process (the killed claim counts as an attempt).
        var jobs = await ReadDbAsync(db => db.Jobs.AsNoTracking().ToListAsync());
        Assert.All(jobs, j => Assert.True(j.State == JobState.Succeeded, $"job {j.Id} ({j.Kind}): {j.State}, {j.LastError}"));
        Assert.Equal(sent.Count * 2, jobs.Count); // a webhook job and a publish job per delivery, nothing re-enqueued
        foreach (var id in inFlight)
        {
            var job = jobs.Single(j => j.Id == id);
            Assert.Equal(2, job.Attempts);
            Assert.Contains($":{second.ProcessId}:", job.LockedBy);
        }

        // Write-back (alpha only): one check run per attempt, the interrupted one completed by the new process.
        var alphaAttempts = (await AttemptsAsync(api2, alphaConnection)).Select(a => a["id"]!.GetValue<string>()).ToList();
        var runs = gh.CheckRuns.Where(r => r.RepoId == alpha.Id).ToList();
        Assert.Equal(alphaAttempts.Order(), runs.Select(r => r.ExternalId).Order());
        Assert.All(runs, r => Assert.Equal(new[] { "in_progress", "completed" }, r.StatusHistory));
        Assert.All(runs, r => Assert.Equal("success", r.Conclusion));
        Assert.DoesNotContain(gh.CheckRuns, r => r.RepoId == beta.Id);

        // GitHub redelivering one of them after the restart is recognized and not processed again.
        var redelivered = sent[0];
        using (var again = await SendWebhookAsync(second, "push", gh.Payloads.Push(alpha, "refs/heads/main", after: redelivered.SourceRef), redelivered.DeliveryId))
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(expectedAlpha, (await AttemptsAsync(api2, alphaConnection)).Count);

        Assert.Empty(gh.InternalErrors);
        Assert.Empty(gh.UnknownRouteRequests);
        Assert.DoesNotContain("fail:", second.Output, StringComparison.Ordinal);
        Log("done", clock);
    }

    /// <summary>
    /// The webhook job used to save what a delivery queued (attempts, publish jobs) and the delivery's "processed" mark in
    /// two transactions. A crash between them left the delivery queued with its work already stored, so the re-run queued
    /// everything a second time. Here the mark's save fails once (what a crash at that moment leaves behind), in process
    /// so the moment is exact.
    /// </summary>
    [Fact]
    public async Task A_crash_while_recording_a_processed_delivery_does_not_queue_its_work_twice()
    {
        var installation = gh.AddInstallation("crash-mark");
        var repo = gh.AddRepo(installation, "crash-mark", "skills");
        var crash = new CrashOnDeliveryProcessed();
        await using var app = new AdminAppFactory { Interceptors = { crash } };
        foreach (var (k, v) in GitHubHarness.Settings(gh)) app.Settings[k] = v;
        app.Settings["GitHub:TrustApiKeyBinding"] = "true"; // binding is not what this test is about
        using var api = app.CreateClient(app.DevelopmentKey);
        await BindAsync(api, installation);
        var connection = await ConnectAsync(api, await CreateEntryAsync(api, "skills"), installation, repo, writeBack: false);

        var sha = gh.PushCommit(repo, "main", GitHubHarness.Skill("skills"));
        using var request = gh.CreateWebhookRequest(new Uri(api.BaseAddress!, "/api/v1/github/webhook"), "push", gh.Payloads.Push(repo, "refs/heads/main", after: sha));
        Assert.Equal(HttpStatusCode.Accepted, (await api.SendAsync(request)).StatusCode);

        var queue = app.Services.GetRequiredService<SelfTune.Admin.Jobs.JobQueue>();
        var webhookJob = await app.WithDbAsync(db => db.Jobs.SingleAsync(j => j.Kind == PublishJobs.Webhook));
        var done = await queue.WaitForCompletionAsync(webhookJob.Id, TimeSpan.FromSeconds(30));
        Assert.Equal(0, crash.Left); // the simulated crash happened
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal(2, done.Attempts); // the crashed try and the re-run

        var publishJobs = await app.WithDbAsync(db => db.Jobs.Where(j => j.Kind == PublishJobs.Publish).ToListAsync());
        foreach (var job in publishJobs) await queue.WaitForCompletionAsync(job.Id, TimeSpan.FromSeconds(30));
        var attempts = await app.WithDbAsync(db => db.Attempts.Where(a => a.ConnectionId == connection).ToListAsync());
        Assert.Single(publishJobs);
        var attempt = Assert.Single(attempts);
        Assert.Equal(AttemptStatus.Published, attempt.Status);
        Assert.Equal(DeliveryOutcome.Processed, (await app.WithDbAsync(db => db.Deliveries.SingleAsync())).Outcome);
    }

    /// <summary>Fails the first save that marks a delivery processed, as if the process died right then.</summary>
    sealed class CrashOnDeliveryProcessed : Microsoft.EntityFrameworkCore.Diagnostics.SaveChangesInterceptor
    {
        int left = 1;

        public int Left => Volatile.Read(ref left);

        public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>> SavingChangesAsync(
            Microsoft.EntityFrameworkCore.Diagnostics.DbContextEventData eventData, Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result,
            CancellationToken cancellationToken = default)
        {
            var marking = eventData.Context!.ChangeTracker.Entries<WebhookDelivery>().Any(e => e.State == EntityState.Modified
                && e.Entity.Outcome == DeliveryOutcome.Processed && e.Property(d => d.Outcome).OriginalValue == DeliveryOutcome.Queued);
            if (marking && Interlocked.CompareExchange(ref left, 0, 1) == 1)
                throw new IOException("Simulated crash: the process died while recording the delivery as processed.");
            return base.SavingChangesAsync(eventData, result, cancellationToken);
        }
    }

    // ---- The app as a child process

    /// <param name="lease">The jobs' lease; null: the app's default (Jobs:Lease not set).</param>
    async Task<AppProcess> StartAppAsync(int workers, TimeSpan attemptTimeout, TimeSpan? lease)
    {
        var settings = GitHubHarness.Settings(gh);
        settings["Storage:DataPath"] = dataPath;
        settings["Development:ApiKey"] = apiKey;
        settings["Jobs:Lease"] = lease?.ToString("c", CultureInfo.InvariantCulture);
        settings["Jobs:Workers"] = workers.ToString(CultureInfo.InvariantCulture);
        settings["GitHub:AttemptTimeout"] = attemptTimeout.ToString("c", CultureInfo.InvariantCulture);
        // Binding is not what these tests are about, and the child process has no signed-in browser for GitHub's callback.
        settings["GitHub:TrustApiKeyBinding"] = "true";
        var app = await AppProcess.StartAsync(settings);
        apps.Add(app);
        return app;
    }

    // ---- The harness's API steps, against the child process

    Task BindAsync(HttpClient api, FakeInstallation installation) => GitHubHarness.BindByApiKeyAsync(gh, api, installation);

    static async Task<string> CreateEntryAsync(HttpClient api, string name)
    {
        using var response = await api.PostAsJsonAsync("/api/v1/registry", new { name, description = "test" });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    /// <summary>
    /// A connection with auto-publish on that published nothing yet: created with it off (no first sync on create), then
    /// switched on, so what these tests send is all that publishes and every attempt they count is a delivery's.
    /// </summary>
    static async Task<Guid> ConnectAsync(HttpClient api, string entryId, FakeInstallation installation, FakeRepo repo, bool writeBack)
    {
        using var response = await api.PostAsJsonAsync("/api/v1/github/connections",
            new { entry_id = entryId, installation_id = installation.Id, repo_full_name = repo.FullName, write_back_enabled = writeBack, auto_publish = false });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var connectionId = Guid.Parse((await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>());
        using var on = await api.PatchAsJsonAsync($"/api/v1/github/connections/{connectionId}", new { auto_publish = true });
        Assert.True(on.StatusCode == HttpStatusCode.OK, await on.Content.ReadAsStringAsync());
        return connectionId;
    }

    async Task<HttpResponseMessage> SendWebhookAsync(AppProcess app, string eventName, string payload, string deliveryId)
    {
        using var http = app.CreateClient(apiKey: null);
        using var request = gh.CreateWebhookRequest(new Uri(app.BaseAddress, "/api/v1/github/webhook"), eventName, payload, deliveryId);
        return await http.SendAsync(request);
    }

    static async Task<List<JsonObject>> AttemptsAsync(HttpClient api, Guid connectionId) =>
        (await api.GetFromJsonAsync<JsonObject>($"/api/v1/github/connections/{connectionId}/attempts"))!["attempts"]!.AsArray()
        .Select(a => a!.AsObject()).ToList();

    static string Status(JsonObject attempt) => attempt["status"]!.GetValue<string>();

    static bool Finished(JsonObject attempt) => Status(attempt) is not ("queued" or "running");

    // ---- Waiting and reading

    /// <summary>The app's database file, read-only (WAL lets this read while the app writes).</summary>
    async Task<T> ReadDbAsync<T>(Func<AdminDbContext, Task<T>> read)
    {
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataPath, "selftune.db"), Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 10,
        }.ToString();
        await using var db = new AdminDbContext(new DbContextOptionsBuilder<AdminDbContext>().UseSqlite(connectionString).Options);
        return await read(db);
    }

    /// <summary>A bounded poll: the app is another process, so none of its events reach the test.</summary>
    static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what, AppProcess app)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (app.HasExited) throw new InvalidOperationException($"The app exited while waiting for {what()}.\n{app.Output}");
            try
            {
                if (await condition()) return;
            }
            catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6) // SQLITE_BUSY, SQLITE_LOCKED: look again
            {
            }
            if (deadline.Elapsed > timeout) throw new TimeoutException($"Waited {timeout} for {what()}.\n{app.Output}");
            await Task.Delay(PollInterval);
        }
    }

    void Log(string what, Stopwatch clock) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.00} s  {what}");
}
