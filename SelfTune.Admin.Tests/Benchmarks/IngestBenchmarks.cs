using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Runtime;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Octokit.Webhooks;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.GitHub;
using SelfTune.Admin.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// Issue 12's ingest and publish figures, each against a floor measured in the same run (see README "Benchmarks"): the
/// app on a real Kestrel port under a load of N concurrent connections (<see cref="LoadAsync"/>: 1 s warm-up, then 10 s
/// measured), a bare endpoint that only checks the HMAC, one database transaction per delivery with plain ADO.NET, and
/// fetch + gunzip + untar of the tarball a publish reads. Asserts only that the work was done, never a duration.
/// </summary>
[Trait("Category", "Benchmark")]
[Collection(BenchmarkCollection.Name)]
public sealed class IngestBenchmarks(ITestOutputHelper output)
{
    static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(1);
    static readonly TimeSpan Measured = TimeSpan.FromSeconds(10);
    static readonly TimeSpan WarmUpLoad = TimeSpan.FromSeconds(10);
    const int PublishRounds = 20;

    [Fact]
    public Task Webhook_ingest_and_queue_drain() => WithBenchAsync(MeasureIngestAsync);

    /// <summary>The publish rows alone: <c>./bench.sh sqlite --filter "FullyQualifiedName~Publish_latency"</c>.</summary>
    [Fact]
    public Task Publish_latency() => WithBenchAsync(MeasurePublishRowsAsync);

    /// <summary>
    /// What both facts measure with: the app on a real port, a repository no connection uses and the signed push for it,
    /// two connected repositories (small, and of real size) and the bare endpoint that serves the floors.
    /// </summary>
    sealed record Bench(GitHubHarness H, string Provider, Uri Webhook, byte[] Body, string Signature, byte[] FeatureBody, string FeatureSignature,
        GitHubHarness.Connected Connected, GitHubHarness.Connected Realistic, BareEndpoint Bare);

    async Task WithBenchAsync(Func<Bench, Task> measure)
    {
        // A real port; bound by API key, since the harness's signed-in browser and its clients assume the in-memory server.
        var h = new GitHubHarness
        {
            ConfigureApp = app =>
            {
                app.UseKestrel(0);
                app.Settings["GitHub:TrustApiKeyBinding"] = "true";
            },
        };
        await h.InitializeAsync();
        h.Api.BaseAddress = new Uri(h.App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()
            .Replace("[::]", "127.0.0.1"));
        try
        {
            var gh = h.GitHub;
            var provider = await h.App.WithDbAsync(db => Task.FromResult(db.Database.IsNpgsql() ? "PostgreSQL" : "SQLite"));

            // A push for a repository no connection uses: stored and decided at ingest.
            var installation = gh.AddInstallation("bench-org");
            var repo = gh.AddRepo(installation, "bench-org", "unconnected");
            var body = Encoding.UTF8.GetBytes(gh.Payloads.Push(repo, "refs/heads/main", after: gh.PushCommit(repo, "main", GitHubHarness.Skill("bench"))));
            var webhook = new Uri(h.Api.BaseAddress!, "/api/v1/github/webhook");

            var publisher = gh.AddInstallation("gh-published");
            gh.BrowserUser = GitHubHarness.InstallerOf(publisher);
            await GitHubHarness.BindByApiKeyAsync(gh, h.Api, publisher);
            var connected = await h.ConnectRepoAsync(h.Api, "published", installation: publisher);
            var realistic = await h.ConnectRepoAsync(h.Api, RealisticSkillName, new { skill_path = RealisticSkillPath }, installation: publisher,
                files: RealisticFiles);
            await using var bare = await BareEndpoint.StartAsync(gh.WebhookSecret, new Dictionary<string, byte[]>
            {
                ["small"] = gh.BuildTarball(connected.Repo, connected.Sha),
                ["real"] = gh.BuildTarball(realistic.Repo, realistic.Sha),
            });
            // A push to a branch of the connected repository that no connection follows: a webhook job each.
            var featureBody = Encoding.UTF8.GetBytes(gh.Payloads.Push(connected.Repo, "refs/heads/feature", after: connected.Sha));
            var b = new Bench(h, provider, webhook, body, gh.SignWebhook(body), featureBody, gh.SignWebhook(featureBody), connected, realistic, bare);
            await WarmUpAsync(b);
            await measure(b);
        }
        finally
        {
            await h.DisposeAsync();
        }
    }

    /// <summary>
    /// Not measured: a server that has run for a while has its hot code compiled at full optimisation, and a fresh process
    /// reaches that only after seconds of load (tiered compilation re-compiles what runs often, in the background, on the
    /// same two cores). Measured after 1 s, the app spent 15-20 % of its CPU in the JIT (perf). Both servers get the same:
    /// the load each is measured with, plus, for the app, the publish path.
    /// </summary>
    static async Task WarmUpAsync(Bench b)
    {
        await LoadAsync(8, _ => Push(new Uri(b.Bare.Address, "/webhook"), b.Body, b.Signature), HttpStatusCode.Accepted, WarmUpLoad);
        using (var warming = new CancellationTokenSource())
        {
            var warmReleases = PublishContinuouslyAsync(b.H, b.Connected, "v0.0.", warming.Token);
            await LoadAsync(64, c => c % 2 == 0 ? Push(b.Webhook, b.Body, b.Signature) : Push(b.Webhook, b.FeatureBody, b.FeatureSignature),
                HttpStatusCode.Accepted, WarmUpLoad);
            await warming.CancelAsync();
            await warmReleases;
        }
        await DrainAsync(b.H);
    }

    async Task MeasureIngestAsync(Bench b)
    {
        var (h, provider, webhook, body, signature, featureBody, featureSignature, connected, _, bare) = b;
        // Floors.
        var bareHmac = await LoadAsync(8, _ => Push(new Uri(bare.Address, "/webhook"), body, signature), HttpStatusCode.Accepted);

        // Ingest at 8 connections, workers on (they process what is ingested meanwhile, as in production), in turns with
        // the one-transaction floor: that floor moved by 40-65 % between runs of the same code on this machine (3,761 to
        // 6,331 tx/s; it writes the log file on every commit), and measured once, a minute from the ingest, its ratio
        // said as much about the storage at that moment as about the ingest. Three pairs of 5 s each; the median of each.
        var turns = new List<(double Floor, Load Ingest)>();
        for (var turn = 0; turn < 3; turn++)
            turns.Add((await SingleTransactionFloorAsync(h.App, Encoding.UTF8.GetString(body), Turn),
                await LoadAsync(8, _ => Push(webhook, body, signature), HttpStatusCode.Accepted, Turn)));
        var ingest8 = turns.Select(t => t.Ingest).OrderBy(l => l.PerSecond).ElementAt(1);
        var transactions = turns.Select(t => t.Floor).Order().ElementAt(1);
        var perTurn = turns.Select(t => t.Ingest.PerSecond / t.Floor).Order().ToList();
        BenchmarkTable.Add(output, $"Webhook ingest, unconnected push, 8 connections ({provider})", ingest8.ToString(),
            $"bare HMAC endpoint: {bareHmac}", Ratio(ingest8.PerSecond, bareHmac.PerSecond), Target(ingest8.PerSecond / bareHmac.PerSecond, 0.2));
        BenchmarkTable.Add(output, $"same, vs one {provider} transaction per delivery + job (1 thread), in turns",
            $"{string.Join(" / ", turns.Select(t => $"{t.Ingest.PerSecond:N0}"))} req/s",
            $"{string.Join(" / ", turns.Select(t => $"{t.Floor:N0}"))} tx/s", $"{perTurn[1]:0.00}× (turns {string.Join(", ", perTurn.Select(r => $"{r:0.00}"))})",
            Target(perTurn[1], 1.0));
        await DrainAsync(h);

        // 64 connections while the connected repository publishes one release after another; jobs finished meanwhile.
        // Half the connections push to a branch of the connected repository that no connection follows: a push the
        // ingest cannot decide alone (the repository is connected), so each one is a webhook job for the queue to drain.
        using var publishing = new CancellationTokenSource();
        var releases = PublishContinuouslyAsync(h, connected, "v0.1.", publishing.Token);
        var windowStart = DateTimeOffset.UtcNow + WarmUp;
        var ingest64 = await LoadAsync(64, c => c % 2 == 0 ? Push(webhook, body, signature) : Push(webhook, featureBody, featureSignature),
            HttpStatusCode.Accepted);
        var windowEnd = DateTimeOffset.UtcNow;
        await publishing.CancelAsync();
        var published = await releases;
        var drained = await h.App.WithDbAsync(db => db.Jobs.CountAsync(j => j.FinishedAt >= windowStart && j.FinishedAt <= windowEnd));
        BenchmarkTable.Add(output, $"Ingest at 64 connections while publishing ({published} releases; half the pushes need a job)",
            $"{ingest64} ({ingest64.Tail})", "", "",
            $"p99 < 50 ms: {(ingest64.P99 < 50 ? "met" : $"missed by {ingest64.P99 - 50:N0} ms")}");
        var drainRate = drained / (windowEnd - windowStart).TotalSeconds;
        BenchmarkTable.Add(output, "Queue drain while ingesting (jobs finished: webhook jobs of those pushes, publishes)", $"{drainRate:N0} attempts/s", "", "",
            $"≥ 200/s: {(drainRate >= 200 ? "met" : $"missed ({drainRate / 200:0.00}×)")}");
    }

    async Task MeasurePublishRowsAsync(Bench b)
    {
        var (h, connected, realistic, bare) = (b.H, b.Connected, b.Realistic, b.Bare);
        // Publish latency on a quiet app: push sent → version readable through the API, one release at a time (the check
        // run's write-back after that is not part of it). Twice: the small repository published under load in the warm-up (its
        // tarball takes a tenth of a millisecond to read, so the figure is the publish's own cost), and a skill repository
        // the size of a real one (the target's case: a publish that costs little more than reading the tarball).
        // Each row shows what the JIT compiled while it was measured: measured right after the warm-up (which
        // publishes under load and never reads a version through the API), the process compiles 230-470 methods during
        // the 20 small publishes (perf: a third of its CPU). Ten unmeasured rounds first did not quiet it on this 2-core
        // machine and did not move the p50; with DOTNET_TC_CallCountingDelayMs=0 it went quiet and the p50 stayed the
        // same (README "Benchmarks", 2026-12-02). So the rows say how much JIT there was, and nothing waits for it.
        var small = await MeasurePublishAsync(h, connected, "v1.0.");
        await TraceRoundsAsync(h, connected, await FinishedAttemptsAsync(h, connected.ConnectionId));
        AddPublishRow("small skill repository (2 files)", small, await TarballFloorAsync(bare.Address, "small"));
        var real = await MeasurePublishAsync(h, realistic, "v1.0.");
        AddPublishRow($"skill repository of real size ({RealisticFiles.Count} files, {RealisticFiles.Values.Sum(f => f.Length) / 1024:N0} KB; " +
            $"the skill: {RealisticFiles.Keys.Count(k => k.StartsWith(RealisticSkillPath + "/", StringComparison.Ordinal))} files)",
            real, await TarballFloorAsync(bare.Address, "real"));
    }

    void AddPublishRow(string repository, PublishLatency publish, double tarball) =>
        BenchmarkTable.Add(output, $"Publish: push sent → version readable, p50; {repository}",
            $"{publish.P50:N1} ms ({publish.Stages} ms; the JIT meanwhile: {publish.JitMethods} methods, {publish.Jit.TotalMilliseconds:N0} ms)",
            $"fetch + gunzip + untar of the same tarball: {tarball:N1} ms", $"{publish.P50 / tarball:0.0}×",
            $"≤ 2×: {(publish.P50 <= 2 * tarball ? "met" : $"missed by {publish.P50 - 2 * tarball:N1} ms")}");

    /// <summary>
    /// What <see cref="MeasurePublishAsync"/> measured: the p50, the stage times' medians, and what the JIT compiled
    /// meanwhile (in the whole process: the app, and the test's own client and fake GitHub).
    /// </summary>
    sealed record PublishLatency(double P50, string Stages, int JitMethods, TimeSpan Jit);

    /// <summary>p50 of <see cref="PublishRounds"/> releases of <paramref name="connected"/>, one at a time, and the stage times' medians.</summary>
    static async Task<PublishLatency> MeasurePublishAsync(GitHubHarness h, GitHubHarness.Connected connected, string tagPrefix)
    {
        var (jitMethods, jit) = (JitInfo.GetCompiledMethodCount(), JitInfo.GetCompilationTime());
        var latencies = new List<double>();
        var stages = new List<double[]>();
        var before = await FinishedAttemptsAsync(h, connected.ConnectionId);
        var orgId = await h.App.WithDbAsync(db => db.Connections.Where(c => c.Id == connected.ConnectionId).Select(c => c.OrgId).SingleAsync());
        var entryId = Guid.Parse(connected.EntryId);
        var feed = h.App.Services.GetRequiredService<SelfTune.Admin.Infrastructure.IChangeFeed>();
        for (var i = 1; i <= PublishRounds; i++)
        {
            var tag = $"{tagPrefix}{i}";
            var version = tag[1..];
            h.GitHub.PushTag(connected.Repo, tag, connected.Sha);
            using var readable = new SemaphoreSlim(0); // released on each version the registry announces for the entry (after its commit)
            using var announced = feed.Subscribe(orgId, [SelfTune.Admin.Infrastructure.ChangeKind.Entry], e => { if (e.Id == entryId) readable.Release(); });
            var started = Stopwatch.GetTimestamp();
            var deliveryId = await h.SendPushAsync(connected.Installation, connected.Repo, "refs/tags/" + tag, connected.Sha);
            while (true)
            {
                using var read = await h.Api.GetAsync($"/api/v1/registry/{connected.EntryId}/versions/{version}");
                if (read.StatusCode == HttpStatusCode.OK) break;
                Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
                Assert.True(await readable.WaitAsync(TimeSpan.FromSeconds(30)), $"{version} was not published");
            }
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            await h.WaitForFinishedAttemptsAsync(connected.ConnectionId, before + i); // the check run is written back after: not part of the figure
            stages.Add(await StagesAsync(h, deliveryId));
        }
        var stageNames = new[] { "received→attempt created", "created→started", "started→published", "published→finished" };
        return new(Percentile(latencies, 0.5),
            string.Join(", ", stageNames.Select((name, s) => $"{name} {Percentile(stages.Select(x => x[s]).ToList(), 0.5):N1}")),
            (int)(JitInfo.GetCompiledMethodCount() - jitMethods), JitInfo.GetCompilationTime() - jit);
    }

    /// <summary>
    /// Where the time of a publish goes: <see cref="TracedRounds"/> more rounds with a <see cref="PublishTimeline"/>
    /// listening (not part of the latency figure, which is measured without it), and the median round's HTTP calls,
    /// database commands and commits summed in a row and printed one by one, with their offsets from the push, in the log.
    /// </summary>
    async Task TraceRoundsAsync(GitHubHarness h, GitHubHarness.Connected connected, int finishedBefore)
    {
        using var timeline = new PublishTimeline();
        var rounds = new List<(double Total, IReadOnlyList<PublishTimeline.Step> Steps, long Start)>();
        for (var i = 1; i <= TracedRounds; i++)
        {
            var tag = $"v2.0.{i}";
            h.GitHub.PushTag(connected.Repo, tag, connected.Sha);
            var start = Stopwatch.GetTimestamp();
            await h.SendPushAsync(connected.Installation, connected.Repo, "refs/tags/" + tag, connected.Sha);
            await h.WaitForFinishedAttemptsAsync(connected.ConnectionId, finishedBefore + i);
            var end = Stopwatch.GetTimestamp();
            rounds.Add((Stopwatch.GetElapsedTime(start, end).TotalMilliseconds, timeline.Between(start, end), start));
        }
        var median = rounds.OrderBy(r => r.Total).ElementAt(rounds.Count / 2);
        string Sum(string kind) => $"{median.Steps.Count(s => s.Kind == kind)} taking {median.Steps.Where(s => s.Kind == kind).Sum(s => s.Milliseconds):N1} ms";
        BenchmarkTable.Add(output, "Publish, median of traced rounds: push → attempt finished", $"{median.Total:N1} ms: HTTP calls {Sum("http")}, " +
            $"database commands {Sum("db")}, commits {Sum("commit")} (they overlap; the log has the timeline)");
        BenchmarkTable.Detail(output, "The median traced publish (ms from the push; duration; what):");
        foreach (var step in median.Steps)
            BenchmarkTable.Detail(output, $" {Stopwatch.GetElapsedTime(median.Start, step.Start).TotalMilliseconds,7:N2} {step.Milliseconds,6:N2} {step.Kind,-6} {step.What}");
    }

    const int TracedRounds = 11;

    // ---- The load generator ----------------------------------------------------------------------------------------

    sealed record Load(int Requests, double PerSecond, double P50, double P99)
    {
        /// <summary>
        /// How the slowest 1 % spread over the window: in how many of its 100-ms intervals they started (a few intervals:
        /// stalls of the whole process, a garbage collection or a wait for the disk; many: queueing everywhere), and the
        /// stalls in the window that could explain them: GC pauses, SQLite log restarts and passive checkpoints.
        /// </summary>
        public string Tail { get; init; } = "";

        public override string ToString() => $"{PerSecond:N0} req/s, p50 {P50:N1} ms, p99 {P99:N1} ms";
    }

    /// <summary>
    /// <paramref name="connections"/> loops, each one request at a time on its own connection (SocketsHttpHandler with
    /// MaxConnectionsPerServer = connections), for <see cref="WarmUp"/> and then <see cref="Measured"/>; requests started
    /// and finished inside the measured window count. Every answer must be <paramref name="expected"/>.
    /// <paramref name="request"/> is given the loop's number.
    /// </summary>
    static async Task<Load> LoadAsync(int connections, Func<int, HttpRequestMessage> request, HttpStatusCode expected, TimeSpan? measured = null)
    {
        using var client = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseCookies = false,
        }) { Timeout = TimeSpan.FromSeconds(60) };
        var measuredFrom = Stopwatch.GetTimestamp() + (long)(WarmUp.TotalSeconds * Stopwatch.Frequency);
        var window = measured ?? Measured;
        var end = measuredFrom + (long)(window.TotalSeconds * Stopwatch.Frequency);
        var latencies = new List<(long Start, double Ms)>[connections];
        string? wrong = null;
        var stalls = new System.Collections.Concurrent.ConcurrentQueue<(long Start, double Ms, string What)>();
        using var gc = new GcPauseListener((start, ms, generation) => stalls.Enqueue((start, ms, $"gen {generation}")));
        using var checkpoints = new System.Diagnostics.Metrics.MeterListener();
        checkpoints.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "selftune.sqlite.checkpoint.duration") listener.EnableMeasurementEvents(instrument);
        };
        checkpoints.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag is { Key: "kind", Value: string kind })
                    stalls.Enqueue((Stopwatch.GetTimestamp() - (long)(seconds * Stopwatch.Frequency), seconds * 1000, kind));
        });
        checkpoints.Start();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = new List<(long, double)>(4096);
            while (Stopwatch.GetTimestamp() is var start && start < end)
            {
                using var message = request(c);
                using var response = await client.SendAsync(message);
                await response.Content.LoadIntoBufferAsync();
                var stop = Stopwatch.GetTimestamp();
                if (response.StatusCode != expected) wrong ??= $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
                if (start >= measuredFrom && stop <= end) mine.Add((start, Stopwatch.GetElapsedTime(start, stop).TotalMilliseconds));
            }
        })));
        Assert.True(wrong is null, $"Expected {expected}, got {wrong}");
        await gc.FlushAsync();
        var all = latencies.SelectMany(l => l).ToList();
        var times = all.Select(r => r.Ms).ToList();
        var p99 = Percentile(times, 0.99);
        long Interval(long at) => (at - measuredFrom) * 10 / Stopwatch.Frequency;
        var slow = all.Where(r => r.Ms >= p99).Select(r => Interval(r.Start)).ToHashSet();
        var inWindow = stalls.Where(s => s.Start >= measuredFrom && s.Start < end).ToList();
        string Stalls(string kind, Func<string, bool> of)
        {
            var these = inWindow.Where(s => of(s.What)).ToList();
            if (these.Count == 0) return $"no {kind}";
            var longest = these.MaxBy(s => s.Ms);
            // A stall holds the requests in flight: those started in its interval or the one before it are the ones it slows.
            var explained = slow.Count(i => these.Any(s => Interval(s.Start) == i || Interval(s.Start) == i + 1));
            return $"{these.Count} {kind} pausing {these.Sum(s => s.Ms):N0} ms in all, the longest {longest.Ms:N1} ms ({longest.What}), " +
                $"in or after {explained} of those intervals";
        }
        return new Load(all.Count, all.Count / window.TotalSeconds, Percentile(times, 0.5), p99)
        {
            Tail = $"the slowest 1 % started in {slow.Count} of {window.TotalSeconds * 10:N0} 100-ms intervals; " +
                $"{Stalls("GCs", w => w.StartsWith("gen", StringComparison.Ordinal))}; {Stalls("SQLite log restarts", w => w == "restart")}; " +
                $"{Stalls("SQLite passive checkpoints (writers go on)", w => w == "passive")}",
        };
    }

    /// <summary>A signed push delivery with a new delivery id (the body, and so its signature, is the same each time).</summary>
    static HttpRequestMessage Push(Uri target, byte[] body, string signature)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, target) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new("application/json");
        message.Headers.Add("X-GitHub-Event", "push");
        message.Headers.Add("X-GitHub-Delivery", Guid.NewGuid().ToString());
        message.Headers.Add("X-Hub-Signature-256", signature);
        return message;
    }

    static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        values.Sort();
        return values[Math.Clamp((int)Math.Ceiling(q * values.Count) - 1, 0, values.Count - 1)];
    }

    static string Ratio(double value, double floor) => $"{value / floor:0.00}×";

    static string Target(double ratio, double target) =>
        $"≥ {target:0.0}×: " + (ratio >= target ? "met" : $"missed ({ratio / target:0.00} of it)");

    // ---- Floors ----------------------------------------------------------------------------------------------------

    /// <summary>A bare ASP.NET Core app on Kestrel: POST /webhook reads the body and checks its HMAC; GET /tarball serves a tarball.</summary>
    sealed class BareEndpoint : IAsyncDisposable
    {
        readonly WebApplication app;
        public Uri Address { get; }

        BareEndpoint(WebApplication app, Uri address) => (this.app, Address) = (app, address);

        public static async Task<BareEndpoint> StartAsync(string secret, IReadOnlyDictionary<string, byte[]> tarballs)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            app.MapPost("/webhook", async (HttpContext http) =>
            {
                using var buffer = new MemoryStream();
                await http.Request.Body.CopyToAsync(buffer);
                var valid = WebhookSignatureValidator.Verify(http.Request.Headers["X-Hub-Signature-256"], secret,
                    buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) == WebhookSignatureValidationResult.Valid;
                return Results.StatusCode(valid ? 202 : 401);
            });
            app.MapGet("/tarball/{name}", (string name) => Results.Bytes(tarballs[name], "application/gzip"));
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new BareEndpoint(app, new Uri(address));
        }

        public async ValueTask DisposeAsync() => await app.DisposeAsync();
    }

    /// <summary>One turn of the ingest and of the one-transaction floor (<see cref="MeasureIngestAsync"/>).</summary>
    static readonly TimeSpan Turn = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Transactions per second on 1 thread, each storing a delivery row and a job row with plain ADO.NET on the app's own
    /// database (its connection, so SQLite's pragmas apply). The jobs are stored finished, so no worker picks them up.
    /// </summary>

    static Task<double> SingleTransactionFloorAsync(AdminAppFactory app, string payload, TimeSpan window) => app.WithDbAsync(async db =>
    {
        await db.Database.OpenConnectionAsync();
        var connection = db.Database.GetDbConnection();
        var postgres = db.Database.IsNpgsql();
        object Time() => postgres ? DateTimeOffset.UtcNow : DateTimeOffset.UtcNow.UtcTicks;
        using var delivery = connection.CreateCommand();
        delivery.CommandText = """
            INSERT INTO "Deliveries" ("Id", "DeliveryId", "Event", "Action", "InstallationId", "RepositoryId", "RepositoryFullName",
                "ReceivedAt", "Outcome", "OutcomeMessage", "ReplayedByOrgId", "Payload")
            VALUES (@id, @deliveryId, 'push', NULL, 1, 2, 'bench-org/floor', @now, 'Ignored', NULL, NULL, @payload)
            """;
        using var job = connection.CreateCommand();
        job.CommandText = """
            INSERT INTO "Jobs" ("Kind", "Payload", "ConcurrencyKey", "State", "Attempts", "MaxAttempts", "NotBefore", "CreatedAt", "FinishedAt")
            VALUES ('bench.floor', @payload, NULL, 'Succeeded', 1, 5, @now, @now, @now)
            """;
        var end = Stopwatch.GetTimestamp() + (long)(window.TotalSeconds * Stopwatch.Frequency);
        var count = 0;
        var watch = Stopwatch.StartNew();
        while (Stopwatch.GetTimestamp() < end)
        {
            using var transaction = connection.BeginTransaction();
            var id = Guid.CreateVersion7(); // as the app makes a delivery's id (WebhookDelivery.Id)
            Bind(delivery, transaction, ("id", postgres ? id : id.ToString().ToUpperInvariant()), ("deliveryId", Guid.NewGuid().ToString()),
                ("now", Time()), ("payload", payload));
            delivery.ExecuteNonQuery();
            Bind(job, transaction, ("payload", $$"""{"deliveryRowId":"{{id}}"}"""), ("now", Time()));
            job.ExecuteNonQuery();
            transaction.Commit();
            count++;
        }
        return count / watch.Elapsed.TotalSeconds;
    });

    static void Bind(System.Data.Common.DbCommand command, System.Data.Common.DbTransaction transaction, params (string Name, object Value)[] values)
    {
        command.Transaction = transaction;
        command.Parameters.Clear();
        foreach (var (name, value) in values)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
    }

    /// <summary>p50 of fetching the tarball over loopback HTTP, gunzipping it and reading every entry of the tar.</summary>
    static async Task<double> TarballFloorAsync(Uri bare, string name)
    {
        using var client = new HttpClient();
        var times = new List<double>();
        for (var i = 0; i < PublishRounds + 3; i++)
        {
            var watch = Stopwatch.StartNew();
            await using var stream = await client.GetStreamAsync(new Uri(bare, "/tarball/" + name));
            await using var gunzip = new GZipStream(stream, CompressionMode.Decompress);
            using var tar = new TarReader(gunzip);
            var files = 0;
            while (await tar.GetNextEntryAsync() is { } entry)
            {
                if (entry.DataStream is { } data) await data.CopyToAsync(Stream.Null);
                files++;
            }
            Assert.True(files > 0);
            if (i >= 3) times.Add(watch.Elapsed.TotalMilliseconds); // the first rounds warm up
        }
        return Percentile(times, 0.5);
    }

    // ---- Helpers ---------------------------------------------------------------------------------------------------

    const string RealisticSkillName = "release-notes";
    const string RealisticSkillPath = "skills/release-notes";

    /// <summary>
    /// A skill repository of the size real ones have (deterministic text, compressing like source does): the skill (SKILL.md,
    /// scripts, reference documents, a template) under skills/, and around it what such a repository also holds: a README,
    /// a licence, CI workflows, documentation, the tool's source and its tests. About 1 MB in 200 files, 70 KB of it the skill.
    /// </summary>
    static readonly Dictionary<string, byte[]> RealisticFiles = BuildRealisticFiles();

    static Dictionary<string, byte[]> BuildRealisticFiles()
    {
        var random = new Random(12);
        string[] words = ["the", "release", "note", "change", "version", "commit", "skill", "agent", "file", "section", "user", "when",
            "return", "value", "list", "entry", "read", "write", "if", "for", "each", "tag", "summary", "group", "breaking", "fix",
            "feature", "config", "path", "name", "date", "author", "issue", "link", "format", "markdown", "output", "input", "test"];
        string Text(int bytes, string lineStart = "")
        {
            var text = new StringBuilder(bytes + 80);
            while (text.Length < bytes)
            {
                text.Append(lineStart);
                for (var w = random.Next(4, 14); w > 0; w--) text.Append(words[random.Next(words.Length)]).Append(' ');
                text.Append('\n');
            }
            return text.ToString();
        }
        var files = new Dictionary<string, byte[]>
        {
            [$"{RealisticSkillPath}/SKILL.md"] = Encoding.UTF8.GetBytes(
                $"---\nname: {RealisticSkillName}\ndescription: Writes release notes from the commits and pull requests since the last tag.\n---\n" + Text(6_000)),
            [$"{RealisticSkillPath}/templates/notes.md"] = Encoding.UTF8.GetBytes(Text(2_000)),
            ["README.md"] = Encoding.UTF8.GetBytes(Text(8_000)),
            ["LICENSE"] = Encoding.UTF8.GetBytes(Text(11_000)),
            [".github/workflows/ci.yml"] = Encoding.UTF8.GetBytes(Text(2_500, "  - ")),
            [".github/workflows/release.yml"] = Encoding.UTF8.GetBytes(Text(1_800, "  - ")),
        };
        for (var i = 0; i < 6; i++) files[$"{RealisticSkillPath}/scripts/step{i}.py"] = Encoding.UTF8.GetBytes(Text(4_000, "    "));
        for (var i = 0; i < 5; i++) files[$"{RealisticSkillPath}/reference/topic{i}.md"] = Encoding.UTF8.GetBytes(Text(7_000));
        for (var i = 0; i < 30; i++) files[$"docs/page{i:00}.md"] = Encoding.UTF8.GetBytes(Text(9_000));
        for (var i = 0; i < 110; i++) files[$"src/module{i / 10}/part{i:000}.ts"] = Encoding.UTF8.GetBytes(Text(4_500, "  "));
        for (var i = 0; i < 45; i++) files[$"tests/part{i:000}.test.ts"] = Encoding.UTF8.GetBytes(Text(3_500, "  "));
        return files;
    }

    /// <summary>Releases one tag after another on the connected repository until cancelled; how many were published.</summary>
    static async Task<int> PublishContinuouslyAsync(GitHubHarness h, GitHubHarness.Connected connected, string tagPrefix, CancellationToken stop)
    {
        var finished = await FinishedAttemptsAsync(h, connected.ConnectionId);
        var published = 0;
        while (!stop.IsCancellationRequested)
        {
            var tag = $"{tagPrefix}{published + 1}";
            h.GitHub.PushTag(connected.Repo, tag, connected.Sha);
            await h.SendPushAsync(connected.Installation, connected.Repo, "refs/tags/" + tag, connected.Sha);
            await h.WaitForFinishedAttemptsAsync(connected.ConnectionId, ++finished, TimeSpan.FromMinutes(5)); // behind the backlog of webhook jobs
            published++;
        }
        return published;
    }

    static Task<int> FinishedAttemptsAsync(GitHubHarness h, Guid connectionId) => h.App.WithDbAsync(db => db.Attempts.CountAsync(a =>
        a.ConnectionId == connectionId && a.Status != AttemptStatus.Queued && a.Status != AttemptStatus.Running));

    /// <summary>Waits until no webhook delivery is left queued (the backlog is processed before the next figure).</summary>
    static async Task DrainAsync(GitHubHarness h)
    {
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (await h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.Outcome == DeliveryOutcome.Queued)) > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100); // a backlog has no completion event of its own; polling it is the measurement
    }

    /// <summary>Milliseconds between the stored times of a delivery and its attempt: received → created → started → published → finished.</summary>
    static async Task<double[]> StagesAsync(GitHubHarness h, string deliveryId)
    {
        var received = await h.App.WithDbAsync(db => db.Deliveries.Where(d => d.DeliveryId == deliveryId).Select(d => d.ReceivedAt).SingleAsync());
        var attempt = await h.App.WithDbAsync(db => db.Attempts.AsNoTracking().SingleAsync(a => a.DeliveryId == deliveryId));
        DateTimeOffset[] times = [received, attempt.CreatedAt, attempt.StartedAt!.Value, attempt.PublishedAt!.Value, attempt.FinishedAt!.Value];
        return times.Zip(times.Skip(1), (a, b) => (b - a).TotalMilliseconds).ToArray();
    }
}
