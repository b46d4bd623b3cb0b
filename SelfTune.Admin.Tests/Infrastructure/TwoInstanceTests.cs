using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Auth;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.GitHub;
using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// Issue 11: two app instances as real processes (<see cref="AppProcess"/>) on one PostgreSQL database and one Azurite
/// container, behind no balancer: a browser's sign-in and 1,000 signed webhook deliveries spread over both, one instance
/// killed while they are being sent (the deliveries whose POST to it fails are resent to the survivor, as GitHub
/// redelivers). Every accepted delivery is processed exactly once and the survivor takes over the dead one's jobs when
/// their lease ends. The figures are printed (README, "Run more than one instance").
/// </summary>
/// <remarks>
/// The deliveries are pushes to connected repositories, each leaving one attempt row that names its delivery. Most go to
/// connections with auto-publish off: their publish job ends the attempt "skipped" without reading GitHub, so the run
/// measures the queue across instances (a webhook job and a publish job per delivery, 2,000 jobs) rather than tarball
/// packaging, which on a 2-core machine would take several minutes for 1,000 versions. Every 50th goes to a connection
/// with auto-publish on and publishes a version of its own commit into Azurite (20 versions), so the whole publish path
/// runs on both instances too, and one of those publishes is the job held when the kill comes.
/// </remarks>
public sealed class TwoInstanceTests(ITestOutputHelper output) : IAsyncLifetime
{
    const int DeliveryCount = 1000;
    const int Streams = 4;
    const int SkippingRepos = 8;
    const int PublishEvery = 50;
    /// <summary>Every 100th delivery is sent to both instances at once (GitHub redelivering while the first is in flight).</summary>
    const int RaceEvery = 100;
    const int RedeliveredAtTheEnd = 10;
    /// <summary>The kill comes once this many deliveries were sent ("mid-run").</summary>
    const int KillAfterSent = DeliveryCount * 2 / 5;

    /// <summary>The app's default lease: the instances run with it.</summary>
    static readonly TimeSpan Lease = new JobOptions().Lease;
    /// <summary>
    /// After the lease: the survivor's next poll (200 ms here) and a free slot. The takeover is when the survivor claims the
    /// jobs, not when it finishes them: finishing adds the jobs' own run time, which on a loaded 2-core machine still
    /// receiving the rest of the deliveries was over a minute for the taken-over publish.
    /// </summary>
    static readonly TimeSpan TakeoverMargin = TimeSpan.FromSeconds(15);

    // The instances are other processes, so none of their events reach the test: the waits are bounded polls of the
    // shared database.
    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    readonly string root = Path.Combine(Path.GetTempPath(), "selftune-tests", "two-" + Guid.NewGuid().ToString("N"));
    readonly string apiKey = ApiKeyFormat.Generate();
    readonly string container = "two-" + Guid.NewGuid().ToString("N");
    /// <summary>Completes the one tarball download the fake GitHub holds (the publish job running when the kill comes).</summary>
    readonly TaskCompletionSource releaseHeldTarball = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly List<AppProcess> apps = [];
    FakeGitHub gh = null!;
    volatile AppProcess? killed;

    sealed record Delivery(int Index, string Id, string Payload, Guid Connection, string? PublishedSha);

    public async Task InitializeAsync()
    {
        gh = await FakeGitHub.StartAsync();
        gh.SetupUrl = new Uri("http://localhost/settings/github");
    }

    public async Task DisposeAsync()
    {
        releaseHeldTarball.TrySetResult();
        foreach (var app in apps)
        {
            await app.DisposeAsync();
            output.WriteLine($"---- app pid {app.ProcessId}, last lines ----\n{string.Join('\n', app.Output.Split('\n').TakeLast(60))}");
        }
        await gh.DisposeAsync();
        TestDatabase.Drop(root);
        try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [PostgresFact]
    public async Task Two_instances_share_sign_in_and_process_1000_deliveries_exactly_once_and_the_survivor_of_a_kill_takes_over_within_the_lease()
    {
        var clock = Stopwatch.StartNew();
        var shared = TestDatabase.AppSettings(root);
        shared["Storage:Provider"] = "AzureBlob";
        shared["Storage:AzureBlob:ConnectionString"] = await Azurite.ConnectionStringAsync();
        shared["Storage:AzureBlob:Container"] = container;
        var started = await Task.WhenAll(StartAppAsync("a", shared), StartAppAsync("b", shared)); // together: the migration lock orders them
        var (a, b) = (started[0], started[1]);
        Log($"instances ready: A pid {a.ProcessId}, B pid {b.ProcessId}", clock);

        await ASignInOnOneInstanceIsAcceptedByTheOtherAsync(a, b);

        // ---- Set-up through A: the installation, 8 connections with auto-publish off and one with it on.
        using var api = a.CreateClient(apiKey);
        var installation = gh.AddInstallation("two-co");
        await BindAsync(api, installation);
        var skipping = new List<(FakeRepo Repo, string Entry, Guid Connection)>();
        for (var r = 0; r < SkippingRepos; r++) skipping.Add(await ConnectRepoAsync(api, installation, $"skip-{r}", autoPublish: false));
        var published = await ConnectRepoAsync(api, installation, "published", autoPublish: true);

        var skipPayloads = skipping.Select(s => gh.Payloads.Push(s.Repo, "refs/heads/main")).ToList();
        var plan = new List<Delivery>(DeliveryCount);
        for (var i = 0; i < DeliveryCount; i++)
        {
            if (i % PublishEvery == PublishEvery / 2)
            {
                var sha = gh.PushCommit(published.Repo, "main", GitHubHarness.Skill("published", extra: $"revision {i}"));
                plan.Add(new Delivery(i, Guid.NewGuid().ToString(), gh.Payloads.Push(published.Repo, "refs/heads/main", after: sha), published.Connection, sha));
            }
            else
            {
                plan.Add(new Delivery(i, Guid.NewGuid().ToString(), skipPayloads[i % SkippingRepos], skipping[i % SkippingRepos].Connection, null));
            }
        }
        // The first publish's tarball download is held until the kill: the instance running it is the one killed, so the
        // kill always leaves a job behind to take over.
        var held = gh.InjectFault(Fault.Hold("/tarball/", releaseHeldTarball.Task));
        Log("set up", clock);

        // ---- 1,000 deliveries in 4 streams, each alternating between the instances; after the kill all go to the survivor.
        var clients = new Dictionary<AppProcess, HttpClient> { [a] = a.CreateClient(apiKey: null), [b] = b.CreateClient(apiKey: null) };
        var answers = new ConcurrentDictionary<string, HttpStatusCode>();
        var racingPairs = new ConcurrentBag<HttpStatusCode[]>();
        var resent = 0;
        var sent = 0;
        AppProcess Other(AppProcess app) => app == a ? b : a;

        // As GitHub does: a delivery goes to the instance the balancer picked, dead or not; when that POST fails (connection
        // refused or reset, no answer) it is delivered again with the same GUID, which the survivor takes.
        async Task<HttpStatusCode> SendAsync(AppProcess app, Delivery delivery)
        {
            try
            {
                using var request = gh.CreateWebhookRequest(new Uri(app.BaseAddress, "/api/v1/github/webhook"), "push", delivery.Payload, delivery.Id);
                using var response = await clients[app].SendAsync(request);
                return response.StatusCode;
            }
            catch (Exception e) when ((e is HttpRequestException or TaskCanceledException) && killed == app)
            {
                Interlocked.Increment(ref resent);
                return await SendAsync(Other(app), delivery);
            }
        }

        // The kill comes when the KillAfterSent-th delivery has been sent, while the streams go on sending. It needs to know
        // which instance runs the held publish first: until then the streams wait at that point (bounded by the kill's wait).
        var victimKnown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killPointReached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var kill = KillTheInstanceRunningTheHeldPublishAsync(held, published.Connection, victimKnown, killPointReached.Task, () => Volatile.Read(ref sent), clock);
        var sending = Task.WhenAll(Enumerable.Range(0, Streams).Select(stream => Task.Run(async () =>
        {
            for (var i = stream; i < DeliveryCount; i += Streams)
            {
                if (Volatile.Read(ref sent) >= KillAfterSent) await victimKnown.Task;
                var delivery = plan[i];
                var preferred = i / Streams % 2 == 0 ? a : b;
                if (i % RaceEvery == 1)
                {
                    var pair = await Task.WhenAll(SendAsync(preferred, delivery), SendAsync(Other(preferred), delivery));
                    racingPairs.Add(pair);
                    answers[delivery.Id] = pair.Contains(HttpStatusCode.Accepted) ? HttpStatusCode.Accepted : pair[0];
                }
                else
                {
                    answers[delivery.Id] = await SendAsync(preferred, delivery);
                }
                if (Interlocked.Increment(ref sent) == KillAfterSent) killPointReached.TrySetResult();
            }
        })));
        // Whichever ends first with an error ends the test with it.
        await Task.WhenAll(sending, kill);
        var (victim, killedAt, sentBeforeKill, orphaned, claimedByTheSurvivor) = await kill;
        var survivor = Other(victim);
        Log($"all sent ({resent} resent to the survivor); killed {(victim == a ? "A" : "B")} (pid {victim.ProcessId}) after {sentBeforeKill} sent, holding {orphaned.Count} running job(s)", clock);

        // ---- Wait until every accepted delivery's attempt has finished and no job is left.
        var progress = "nothing read yet";
        await WaitUntilAsync(async () =>
            {
                var (finished, open) = await ReadDbAsync(async db => (
                    await db.Attempts.CountAsync(x => x.DeliveryId != null && x.Status != AttemptStatus.Queued && x.Status != AttemptStatus.Running),
                    await db.Jobs.CountAsync(j => j.State == JobState.Pending || j.State == JobState.Running)));
                progress = $"{finished} attempts finished, {open} jobs pending or running";
                return finished >= DeliveryCount && open == 0;
            },
            Lease + TimeSpan.FromMinutes(2), () => $"every delivery to be processed ({progress})", survivor);
        Log("all processed", clock);

        // ---- What a user would count.
        var accepted = answers.Where(kv => (int)kv.Value is >= 200 and < 300).Select(kv => kv.Key).ToHashSet();
        var attempts = await ReadDbAsync(db => db.Attempts.AsNoTracking().Where(x => x.DeliveryId != null).ToListAsync());
        var byDelivery = attempts.GroupBy(x => x.DeliveryId!).ToDictionary(g => g.Key, g => g.ToList());
        var versions = await ReadDbAsync(db => db.Versions.AsNoTracking().Where(v => v.Entry!.Name == "published").ToListAsync());
        var processed = accepted.Count(id => byDelivery.TryGetValue(id, out var list) && list.Any(Finished));
        var duplicates = byDelivery.Values.Sum(list => list.Count - 1) + (versions.Count - versions.DistinctBy(v => v.SourceRef).Count());
        var lost = accepted.Count - processed;
        var jobs = await ReadDbAsync(db => db.Jobs.AsNoTracking().ToListAsync());
        var takenOver = jobs.Where(j => orphaned.Contains(j.Id)).ToList();
        var takeover = await claimedByTheSurvivor;
        var finishedAfter = takenOver.Count == 0 ? TimeSpan.Zero : takenOver.Max(j => j.FinishedAt!.Value) - killedAt;

        var firstTime = answers.Values.Count(s => s == HttpStatusCode.Accepted);
        var figures = string.Create(CultureInfo.InvariantCulture,
            $"TWO INSTANCES (PostgreSQL + Azurite, 2 processes x {new JobOptions().Workers} workers, {Environment.ProcessorCount} cores): " +
            $"sent {DeliveryCount} deliveries (+{racingPairs.Count} copies racing the original to the other instance), " +
            $"killed {(victim == a ? "A" : "B")} after {sentBeforeKill} were sent; resent {resent} whose POST to it failed to the survivor, " +
            $"accepted {accepted.Count} ({firstTime} answered 202, {accepted.Count - firstTime} answered 200 \"already received\" on a resend), " +
            $"processed {processed} ({attempts.Count(x => x.Status == AttemptStatus.Skipped)} skipped, {attempts.Count(x => x.Status == AttemptStatus.Published)} published), " +
            $"duplicates {duplicates}, lost {lost}. The killed instance held {orphaned.Count} running job(s); " +
            $"the survivor took them over {takeover.TotalSeconds:0.0} s after the kill (lease {Lease.TotalSeconds:0} s) and finished them {finishedAfter.TotalSeconds:0.0} s after it. " +
            $"Whole test {clock.Elapsed.TotalSeconds:0} s.");
        output.WriteLine(figures);
        Console.WriteLine(figures);

        // The kill came while deliveries were still being sent, and some went to the dead instance and were resent.
        Assert.True(sentBeforeKill < DeliveryCount / 2, $"the kill came after {sentBeforeKill} deliveries were sent");
        Assert.True(resent > 0, "no POST to the killed instance failed: the resend path did not run");

        // Every delivery was accepted (the racing copies and the resends were answered "duplicate" or took its place).
        Assert.True(accepted.Count == DeliveryCount,
            "answers: " + string.Join(", ", answers.Values.GroupBy(s => s).Select(g => $"{(int)g.Key} x {g.Count()}")));
        Assert.All(racingPairs, pair => Assert.True(pair.Count(s => s == HttpStatusCode.Accepted) <= 1 && pair.All(s => (int)s is >= 200 and < 300),
            $"a delivery sent to both instances at once was answered {string.Join(", ", pair)}"));
        var stored = await ReadDbAsync(db => db.Deliveries.AsNoTracking().ToListAsync());
        Assert.Equal(plan.Select(d => d.Id).Order(), stored.Select(d => d.DeliveryId).Order());
        Assert.All(stored, d => Assert.True(d.Outcome == DeliveryOutcome.Processed, $"{d.DeliveryId}: {d.Outcome} {d.OutcomeMessage}"));

        // Processed exactly once: one attempt per delivery, on its connection, ended as its connection says.
        Assert.Equal(0, duplicates);
        Assert.Equal(0, lost);
        Assert.Equal(DeliveryCount, processed);
        foreach (var delivery in plan)
        {
            var attempt = Assert.Single(byDelivery[delivery.Id]);
            Assert.Equal(delivery.Connection, attempt.ConnectionId);
            if (delivery.PublishedSha is { } sha)
            {
                Assert.True(attempt.Status == AttemptStatus.Published, $"{delivery.Index}: {attempt.Status} {attempt.Message}");
                Assert.Equal(PublishService.PrereleasePrefix + sha[..7], attempt.Version);
            }
            else
            {
                Assert.True(attempt.Status == AttemptStatus.Skipped, $"{delivery.Index}: {attempt.Status} {attempt.Message}");
            }
        }
        Assert.Equal(plan.Where(d => d.PublishedSha is not null).Select(d => d.PublishedSha).Order(), versions.Select(v => v.SourceRef).Order());

        // The survivor took over every job the killed instance held, once, within the lease.
        Assert.NotEmpty(takenOver);
        Assert.All(takenOver, j =>
        {
            Assert.True(j.State == JobState.Succeeded, $"job {j.Id} ({j.Kind}): {j.State} {j.LastError}");
            Assert.Contains($":{survivor.ProcessId}:", j.LockedBy);
            Assert.Equal(2, j.Attempts); // the killed claim and the survivor's
        });
        Assert.True(takeover <= Lease + TakeoverMargin, $"the survivor took {takeover} to take over the killed instance's jobs");
        Assert.All(jobs, j => Assert.True(j.State == JobState.Succeeded, $"job {j.Id} ({j.Kind}): {j.State} {j.LastError}"));

        // A published version is read back from the shared container through the survivor.
        var version = versions[0];
        using (var download = await survivor.CreateClient(apiKey).GetAsync($"/api/v1/registry/{published.Entry}/versions/{version.Version}/archive"))
            Assert.True(download.StatusCode == HttpStatusCode.OK, $"download of {version.Version}: {(int)download.StatusCode}");

        // GitHub redelivering some after they were processed: recognized, nothing processed again.
        foreach (var delivery in plan.Where(d => d.Index % (DeliveryCount / RedeliveredAtTheEnd) == 0))
            Assert.Equal(HttpStatusCode.OK, await SendAsync(survivor, delivery));
        Assert.Equal(attempts.Count, await ReadDbAsync(db => db.Attempts.CountAsync(x => x.DeliveryId != null)));

        Assert.Empty(gh.InternalErrors);
        Assert.Empty(gh.UnknownRouteRequests);
        foreach (var client in clients.Values) client.Dispose();
    }

    /// <summary>
    /// Graceful shutdown (SIGTERM, as an orchestrator or systemd stops a process): the instance stops claiming, gives its
    /// running job the shutdown timeout (<c>shutdownTimeoutSeconds</c>) to finish, then cancels it and gives it back, so the
    /// other instance runs it at once instead of after its lease. The lease here is 5 minutes: only the release can
    /// explain a takeover within seconds.
    /// </summary>
    [PostgresFact]
    public async Task An_instance_stopped_with_SIGTERM_gives_back_the_job_it_could_not_finish_and_the_other_runs_it_at_once()
    {
        var clock = Stopwatch.StartNew();
        var shutdownTimeout = TimeSpan.FromSeconds(3);
        var lease = TimeSpan.FromMinutes(5);
        var shared = TestDatabase.AppSettings(root);
        shared["Storage:Provider"] = "AzureBlob";
        shared["Storage:AzureBlob:ConnectionString"] = await Azurite.ConnectionStringAsync();
        shared["Storage:AzureBlob:Container"] = container;
        shared["shutdownTimeoutSeconds"] = shutdownTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture);
        shared["Jobs:Lease"] = lease.ToString();
        var started = await Task.WhenAll(StartAppAsync("a", shared), StartAppAsync("b", shared));
        Log("instances ready", clock);

        using var api = started[0].CreateClient(apiKey);
        var installation = gh.AddInstallation("drain-co");
        await BindAsync(api, installation);
        var published = await ConnectRepoAsync(api, installation, "drained", autoPublish: true);
        var held = gh.InjectFault(Fault.Hold("/tarball/", releaseHeldTarball.Task)); // never released: only the other instance's download is answered
        var sha = gh.PushCommit(published.Repo, "main", GitHubHarness.Skill("drained", extra: "the held revision"));
        using (var push = gh.CreateWebhookRequest(new Uri(started[0].BaseAddress, "/api/v1/github/webhook"), "push",
                   gh.Payloads.Push(published.Repo, "refs/heads/main", after: sha), Guid.NewGuid().ToString()))
        using (var webhook = started[0].CreateClient(apiKey: null))
        using (var answer = await webhook.SendAsync(push))
            Assert.Equal(HttpStatusCode.Accepted, answer.StatusCode);

        var key = PublishJobs.ConcurrencyKey(published.Connection);
        Job? running = null;
        await WaitUntilAsync(async () =>
            {
                if (held.Remaining > 0) return false;
                running = await ReadDbAsync(db => db.Jobs.AsNoTracking()
                    .FirstOrDefaultAsync(j => j.State == JobState.Running && j.Kind == PublishJobs.Publish && j.ConcurrencyKey == key));
                return running is not null;
            },
            TimeSpan.FromMinutes(2), () => $"the publish to run (hold taken: {held.Remaining == 0})", started);
        var stopped = started.Single(app => running!.LockedBy!.Contains($":{app.ProcessId}:", StringComparison.Ordinal));
        var other = started.Single(app => app != stopped);
        Log($"publish job {running!.Id} runs on pid {stopped.ProcessId}; SIGTERM", clock);

        var sigterm = Stopwatch.StartNew();
        var exitCode = await stopped.TerminateAsync(TimeSpan.FromMinutes(1));
        var exited = sigterm.Elapsed;
        Job? done = null;
        await WaitUntilAsync(async () =>
            {
                done = await ReadDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.Id == running.Id));
                return done.State is JobState.Succeeded or JobState.Failed;
            },
            TimeSpan.FromMinutes(1), () => $"job {running.Id} to end (now {done?.State}, locked by {done?.LockedBy})", other);
        var takenOver = sigterm.Elapsed;
        var figures = string.Create(CultureInfo.InvariantCulture,
            $"GRACEFUL STOP: SIGTERM to an instance running a publish; it exited (code {exitCode}) {exited.TotalSeconds:0.0} s later " +
            $"(shutdown timeout {shutdownTimeout.TotalSeconds:0} s) and the other instance finished the job {takenOver.TotalSeconds:0.0} s after the " +
            $"SIGTERM (lease {lease.TotalMinutes:0} min).");
        output.WriteLine(figures);
        Console.WriteLine(figures);

        Assert.Equal(0, exitCode);
        Assert.Contains("interrupted by shutdown; given back to the queue", stopped.Output);
        Assert.True(done!.State == JobState.Succeeded, $"job {done.Id}: {done.State} {done.LastError}");
        Assert.Contains($":{other.ProcessId}:", done.LockedBy);
        Assert.Equal(1, done.Attempts); // the interrupted attempt is not counted
        Assert.True(takenOver < lease / 5, $"the other instance took {takenOver} to finish the job given back");
        var attempt = await ReadDbAsync(db => db.Attempts.AsNoTracking().SingleAsync(x => x.ConnectionId == published.Connection && x.DeliveryId != null));
        Assert.True(attempt.Status == AttemptStatus.Published, $"{attempt.Status} {attempt.Message}");
        Assert.Equal(PublishService.PrereleasePrefix + sha[..7], attempt.Version);
        Assert.Empty(gh.InternalErrors);
    }

    /// <summary>
    /// Waits until the held publish job runs (its tarball download is the one the fake holds, so it keeps running) and
    /// names the instance running it (<paramref name="victimKnown"/>); once <paramref name="killPoint"/> comes, hard-kills
    /// that instance. Returns which, when, how many deliveries had been sent, and the jobs it left running.
    /// </summary>
    async Task<(AppProcess Victim, DateTimeOffset KilledAt, int SentBeforeKill, List<long> Orphaned, Task<TimeSpan> ClaimedByTheSurvivor)> KillTheInstanceRunningTheHeldPublishAsync(
        Fault held, Guid connection, TaskCompletionSource victimKnown, Task killPoint, Func<int> sentSoFar, Stopwatch clock)
    {
        AppProcess victim;
        try
        {
            var key = PublishJobs.ConcurrencyKey(connection);
            Job? holding = null;
            await WaitUntilAsync(async () =>
                {
                    if (held.Remaining > 0) return false;
                    holding = await ReadDbAsync(db => db.Jobs.AsNoTracking()
                        .FirstOrDefaultAsync(j => j.State == JobState.Running && j.Kind == PublishJobs.Publish && j.ConcurrencyKey == key));
                    return holding is not null;
                },
                TimeSpan.FromMinutes(3), () => $"the held publish to run ({sentSoFar()} sent, hold taken: {held.Remaining == 0})", apps.ToArray());
            victim = apps.Single(app => holding!.LockedBy!.Contains($":{app.ProcessId}:", StringComparison.Ordinal));
            Log($"the held publish (job {holding!.Id}) runs on pid {victim.ProcessId}; {sentSoFar()} sent", clock);
        }
        catch (Exception e)
        {
            victimKnown.TrySetException(e); // the streams waiting at the kill point end too
            throw;
        }
        victimKnown.TrySetResult();
        await killPoint;

        killed = victim;
        var sentBeforeKill = sentSoFar();
        await victim.KillAsync();
        var killedAt = DateTimeOffset.UtcNow;
        var sinceKill = Stopwatch.StartNew();
        Log($"killed pid {victim.ProcessId} after {sentBeforeKill} sent", clock);
        // The database as the dead process left it: whatever it had Running stays so until someone takes it over.
        var pid = $":{victim.ProcessId}:";
        var orphaned = await ReadDbAsync(db => db.Jobs.AsNoTracking()
            .Where(j => j.State == JobState.Running && j.LockedBy!.Contains(pid)).Select(j => j.Id).ToListAsync());
        releaseHeldTarball.TrySetResult();
        return (victim, killedAt, sentBeforeKill, orphaned, TheSurvivorClaimsAsync(orphaned, apps.Single(app => app != victim), sinceKill, clock));
    }

    /// <summary>When the survivor has claimed every one of <paramref name="jobs"/> (their lease ended), measured from the kill.</summary>
    async Task<TimeSpan> TheSurvivorClaimsAsync(List<long> jobs, AppProcess survivor, Stopwatch sinceKill, Stopwatch clock)
    {
        var pid = $":{survivor.ProcessId}:";
        await WaitUntilAsync(async () => await ReadDbAsync(db => db.Jobs.CountAsync(j => jobs.Contains(j.Id) && j.LockedBy!.Contains(pid))) == jobs.Count,
            Lease + TimeSpan.FromMinutes(3), () => "the survivor to take over the killed instance's jobs", survivor);
        var after = sinceKill.Elapsed;
        Log($"the survivor took over the killed instance's {jobs.Count} job(s) {after.TotalSeconds:0.0} s after the kill", clock);
        return after;
    }

    /// <summary>
    /// A cookie issued by one instance is accepted by the other, and an antiforgery token the other way round: the sign-in
    /// form comes from B, is posted to A (which must read B's token), and the cookie A sets opens a page on B. One cookie
    /// jar serves both, as one site behind a balancer would (cookies are per host, not per port).
    /// </summary>
    async Task ASignInOnOneInstanceIsAcceptedByTheOtherAsync(AppProcess a, AppProcess b)
    {
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() })
        {
            BaseAddress = b.BaseAddress,
        };
        using (var signedOut = await browser.GetAsync("/"))
            Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
        var token = await BrowserSignInTests.AntiforgeryTokenAsync(browser);

        using var signIn = await browser.PostAsync(new Uri(a.BaseAddress, "/account/dev-signin"), new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["returnUrl"] = "/",
        }));
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);

        using var overview = await browser.GetAsync("/");
        var html = await overview.Content.ReadAsStringAsync();
        Assert.True(overview.StatusCode == HttpStatusCode.OK, $"B answered {(int)overview.StatusCode} to A's cookie");
        Assert.Contains("Dev Developer", html);
    }

    async Task<AppProcess> StartAppAsync(string name, Dictionary<string, string?> shared)
    {
        var settings = GitHubHarness.Settings(gh); // the same App, webhook secret and GitHub on both
        foreach (var (key, value) in shared) settings[key] = value;
        settings["Storage:DataPath"] = Path.Combine(root, name); // local: the staging folder
        settings["Development:ApiKey"] = apiKey;
        settings["GitHub:AttemptTimeout"] = "00:02:00"; // the held tarball download must outlast the wait for the kill
        settings["GitHub:TrustApiKeyBinding"] = "true"; // the test binds by API key: binding is not what it is about
        settings["Logging:LogLevel:SelfTune.Admin.Jobs.JobWorker"] = "Warning"; // a line per job (2,000) otherwise; failures still show
        var app = await AppProcess.StartAsync(settings);
        lock (apps) apps.Add(app);
        return app;
    }

    // ---- Set-up through the API (as CrashRecoveryTests, against a child process)

    Task BindAsync(HttpClient api, FakeInstallation installation) => GitHubHarness.BindByApiKeyAsync(gh, api, installation);

    async Task<(FakeRepo Repo, string Entry, Guid Connection)> ConnectRepoAsync(HttpClient api, FakeInstallation installation, string name, bool autoPublish)
    {
        var repo = gh.AddRepo(installation, installation.AccountLogin, name);
        gh.PushCommit(repo, "main", GitHubHarness.Skill(name));
        using var entry = await api.PostAsJsonAsync("/api/v1/registry", new { name, description = "test" });
        Assert.True(entry.StatusCode == HttpStatusCode.Created, await entry.Content.ReadAsStringAsync());
        var entryId = (await entry.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        // Created with auto-publish off (no first sync on create), then switched on: only the planned pushes publish.
        using var response = await api.PostAsJsonAsync("/api/v1/github/connections", new
        {
            entry_id = entryId, installation_id = installation.Id, repo_full_name = repo.FullName, auto_publish = false, write_back_enabled = false,
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var connectionId = Guid.Parse((await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>());
        if (autoPublish)
        {
            using var on = await api.PatchAsJsonAsync($"/api/v1/github/connections/{connectionId}", new { auto_publish = true });
            Assert.True(on.StatusCode == HttpStatusCode.OK, await on.Content.ReadAsStringAsync());
        }
        return (repo, entryId, connectionId);
    }

    static bool Finished(PublishAttempt attempt) => attempt.Status is not (AttemptStatus.Queued or AttemptStatus.Running);

    async Task<T> ReadDbAsync<T>(Func<AdminDbContext, Task<T>> read)
    {
        await using var db = TestDatabase.Open(root);
        return await read(db);
    }

    /// <summary>A bounded poll; fails at once when one of <paramref name="mustRun"/> exits.</summary>
    static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> what, params AppProcess[] mustRun)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (mustRun.FirstOrDefault(app => app.HasExited) is { } exited)
                throw new InvalidOperationException($"The app (pid {exited.ProcessId}) exited while waiting for {what()}.\n{exited.Output}");
            if (deadline.Elapsed > timeout) throw new TimeoutException($"Waited {timeout} for {what()}.");
            await Task.Delay(PollInterval);
        }
    }

    void Log(string what, Stopwatch clock) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:0.00} s  {what}");
}
