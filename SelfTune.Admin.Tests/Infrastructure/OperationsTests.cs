using System.Diagnostics;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Trace;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.GitHub;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>Issue 14: what an operator checks — one trace per push, metrics, readiness, retention.</summary>
public sealed class OperationsTests
{
    [Fact]
    public async Task One_push_is_one_trace_from_the_webhook_through_its_jobs_to_the_write_back()
    {
        var h = new GitHubHarness();
        await using var stop = new Stop(h);
        await h.InitializeAsync();
        var c = await h.ConnectRepoAsync(h.Api, "traced", new { write_back_enabled = true });

        // The in-memory exporter listens to the sources the app's own pipeline exports: ASP.NET Core, HttpClient, the app's.
        var spans = new LockedList();
        using (var tracing = Sdk.CreateTracerProviderBuilder()
                   .AddSource("Microsoft.AspNetCore", "System.Net.Http", SelfTuneTelemetry.Name)
                   .AddInMemoryExporter(spans).Build())
        {
            var deliveryId = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
            var attempt = Assert.Single(await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1));
            Assert.Equal(AttemptStatus.Published, attempt.Status);
            Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
            await h.WaitForConnectionJobsAsync(c.ConnectionId);
            // A job's span ends after the worker has written the job's completion, so the database can say "done"
            // a moment before the exporter holds the span: wait for the spans themselves. The listener is process-wide
            // and other tests publish meanwhile, so each wait names this push's trace (waiting for any publish span
            // once let a parallel test's satisfy it, and the snapshot missed this one's).
            await spans.WaitForAsync(s => s.Kind == ActivityKind.Server && Equals(s.GetTagItem("github.delivery"), deliveryId));
            var traceId = spans.Snapshot().Single(s => s.Kind == ActivityKind.Server && Equals(s.GetTagItem("github.delivery"), deliveryId)).TraceId;
            await spans.WaitForAsync(s => s.TraceId == traceId && s.DisplayName == $"job {PublishJobs.Webhook}");
            await spans.WaitForAsync(s => s.TraceId == traceId && s.DisplayName == $"job {PublishJobs.Publish}");
            tracing.ForceFlush();

            var trace = spans.Snapshot().Where(s => s.TraceId == traceId).ToList();
            var names = string.Join(", ", trace.Select(s => s.DisplayName));
            // The webhook job and the publish job it queued, each continuing the trace.
            Assert.Contains(trace, s => s.DisplayName == $"job {PublishJobs.Webhook}");
            var publish = Assert.Single(trace, s => s.DisplayName == $"job {PublishJobs.Publish}");
            Assert.Equal(c.ConnectionId, publish.GetTagItem("selftune.connection.id"));
            // GitHub calls in the same trace: the tarball and the check run (created, then completed).
            Assert.True(trace.Any(s => s.Kind == ActivityKind.Client && s.DisplayName.StartsWith("GET", StringComparison.Ordinal)), names);
            var checkRuns = trace.Where(s => s.Kind == ActivityKind.Client && (s.GetTagItem("url.full") as string ?? "").Contains("/check-runs", StringComparison.Ordinal)).ToList();
            Assert.True(checkRuns.Any(s => s.DisplayName.StartsWith("POST", StringComparison.Ordinal)), names);
            Assert.True(checkRuns.Any(s => s.DisplayName.StartsWith("PATCH", StringComparison.Ordinal)), names);
        }
    }

    [Fact]
    public async Task The_metrics_endpoint_shows_the_counters_after_a_publish_and_only_to_operators()
    {
        var h = new GitHubHarness();
        await using var stop = new Stop(h);
        h.AppSettings["Telemetry:Prometheus"] = "true";
        h.AppSettings["SelfTune:Operators:0"] = "ops-person";
        await h.InitializeAsync();
        var c = await h.ConnectRepoAsync(h.Api, "metered", new { write_back_enabled = true });
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);

        var org = await h.App.AcmeOrgIdAsync();
        var (member, _) = await SignedInBrowser.CreateAsync(h.App, org, MemberRole.Owner);
        Assert.NotEqual(HttpStatusCode.OK, (await member.GetAsync("/metrics")).StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, (await h.Api.GetAsync("/metrics")).StatusCode); // an API key is not an operator

        var (operatorBrowser, _) = await SignedInBrowser.CreateAsync(h.App, org, MemberRole.Viewer, subject: "ops-person");
        await h.WaitForConnectionJobsAsync(c.ConnectionId); // the publish job has returned: its duration is recorded
        using var response = await operatorBrowser.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("selftune_webhook_deliveries", text);
        Assert.Contains("outcome=\"queued\"", text);
        Assert.Contains("selftune_publish_duration", text);
        Assert.Contains("selftune_writeback", text);
    }

    [Fact]
    public async Task Readyz_fails_while_the_database_is_unreachable_and_recovers_when_it_is_back()
    {
        await using var app = new AdminAppFactory();
        app.Settings["Jobs:Enabled"] = "false"; // nothing else opening the database meanwhile
        using var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        await using (await TestDatabase.MakeUnreachableAsync(app.DataPath))
        {
            using var down = await client.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
            var report = await down.Content.ReadAsStringAsync();
            Assert.Contains("\"database\":{\"status\":\"Unhealthy\"", report);
            Assert.Contains("\"archive_store\":{\"status\":\"Healthy\"", report);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode); // alive, just not ready
        }

        using var back = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, back.StatusCode);
        Assert.Contains("\"github\":{\"status\":\"Healthy\",\"description\":\"The GitHub App is not configured", await back.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Retention_prunes_aged_jobs_payloads_and_attempts_and_never_versions()
    {
        var h = new GitHubHarness();
        await using var stop = new Stop(h);
        h.AppSettings["Retention:Enabled"] = "false"; // the test runs the prune itself, on its own clock
        await h.InitializeAsync();
        var c = await h.ConnectRepoAsync(h.Api, "retained");
        var deliveryId = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        var versionsBefore = await h.App.WithDbAsync(db => db.Versions.CountAsync());
        Assert.Equal(1, versionsBefore);

        // 5 more finished attempts on the connection, one a minute (oldest first); keep 3 per connection.
        var start = DateTimeOffset.UtcNow;
        await h.App.WithDbAsync(async db =>
        {
            var connection = await db.Connections.SingleAsync(x => x.Id == c.ConnectionId);
            for (var i = 1; i <= 5; i++)
            {
                var a = PublishAttempt.Create(connection, AttemptTrigger.Manual, "refs/heads/main", null, start.AddMinutes(i));
                a.Finish(AttemptStatus.Unchanged, "same content", start.AddMinutes(i));
                db.Attempts.Add(a);
            }
            return await db.SaveChangesAsync();
        });
        var clock = new FakeTimeProvider(start.AddMinutes(10));
        var options = new RetentionOptions { AttemptsPerConnection = 3 };
        var retention = new RetentionService(new TestDatabase.Factory(h.App.DataPath), clock,
            new StaticOptionsMonitor(options), NullLogger<RetentionService>.Instance);

        // Young: only the attempts beyond the newest 3 go (the published one and the 2 oldest unchanged).
        var first = await retention.PruneAsync(default);
        Assert.Equal(new RetentionService.Pruned(0, 0, 3), first);
        Assert.Equal(3, (await h.AttemptsAsync(c.ConnectionId)).Count);

        // 31 days on: the delivery's body is emptied (its row stays), the finished jobs are gone.
        clock.Advance(TimeSpan.FromDays(31));
        var later = await retention.PruneAsync(default);
        Assert.True(later.Jobs >= 2, $"jobs pruned: {later.Jobs}"); // the webhook job and the publish job at least
        Assert.True(later.DeliveryPayloads >= 1);
        var delivery = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        Assert.Equal("", delivery.Payload);
        Assert.Equal(DeliveryOutcome.Processed, delivery.Outcome);
        Assert.Equal(0, await h.App.WithDbAsync(db => db.Jobs.CountAsync(j => j.State == JobState.Succeeded)));
        Assert.Equal(3, (await h.AttemptsAsync(c.ConnectionId)).Count);
        Assert.Equal(versionsBefore, await h.App.WithDbAsync(db => db.Versions.CountAsync()));
        Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId)); // still downloadable through the API

        Assert.Equal(new RetentionService.Pruned(0, 0, 0), await retention.PruneAsync(default)); // nothing left to do
    }

    sealed class Stop(IAsyncLifetime harness) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await harness.DisposeAsync();
    }

    /// <summary>The exporter adds spans from whichever thread ends them.</summary>
    sealed class LockedList : System.Collections.ObjectModel.Collection<Activity>
    {
        readonly List<(Func<Activity, bool> Match, TaskCompletionSource Seen)> waiters = [];

        protected override void InsertItem(int index, Activity item)
        {
            lock (this)
            {
                base.InsertItem(index, item);
                foreach (var w in waiters.Where(w => w.Match(item)).ToList())
                {
                    waiters.Remove(w);
                    w.Seen.TrySetResult();
                }
            }
        }

        /// <summary>Completes when a span matching <paramref name="match"/> has ended (or already had).</summary>
        public Task WaitForAsync(Func<Activity, bool> match)
        {
            lock (this)
            {
                if (this.Any(match)) return Task.CompletedTask;
                var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                waiters.Add((match, seen));
                return seen.Task.WaitAsync(TimeSpan.FromSeconds(30));
            }
        }

        public List<Activity> Snapshot()
        {
            lock (this) return this.ToList();
        }
    }

    sealed class StaticOptionsMonitor(RetentionOptions value) : IOptionsMonitor<RetentionOptions>
    {
        public RetentionOptions CurrentValue => value;
        public RetentionOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<RetentionOptions, string?> listener) => null;
    }
}
