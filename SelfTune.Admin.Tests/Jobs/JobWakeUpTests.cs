using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Jobs;

/// <summary>
/// How many times idle slots look for work (a claim on PostgreSQL, the read before one on SQLite, where a claim takes the
/// one write lock that ingest needs) when jobs are stored, as the <c>selftune.jobs.looks</c> metric counts them. The worker has four slots and polls only every ten minutes,
/// so every look here is one a wake-up caused. The same counts on PostgreSQL: the NOTIFY of an instance's own transaction
/// names it and wakes none of its slots (another instance's wakes one: JobQueue.NotifySpreading, and MultiInstanceTests).
/// </summary>
public sealed class JobWakeUpTests : IAsyncLifetime
{
    readonly JobsAppFactory app = new();
    readonly LookCounter looks;

    public JobWakeUpTests() => looks = new LookCounter(() => app.Queue.WorkerId);

    /// <summary>
    /// The looks at start: each slot's first, and on PostgreSQL each slot's once more when the listener has connected
    /// (what was notified before it listened is lost, so every slot looks: PostgresNotifications).
    /// </summary>
    static int Started => TestDatabase.IsPostgres ? 8 : 4;

    public Task InitializeAsync()
    {
        app.Settings["Jobs:PollInterval"] = "00:10:00";
        _ = app.Services; // starts the host, so the worker runs
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        looks.Dispose();
        await app.DisposeAsync();
    }

    [Fact]
    public async Task A_stored_job_sends_one_idle_slot_to_look_not_all_four()
    {
        await looks.WaitForAsync(Started); // every slot's first looks, at start: all four are idle now
        var scenario = app.Script.Add((_, _, _) => Task.FromResult<string?>("done"));

        var ids = await app.EnqueueAsync(scenario);
        Assert.Equal(JobState.Succeeded, (await app.WaitAsync(ids[0])).State);

        Assert.Equal(Started + 1, looks.Count);
    }

    [Fact]
    public async Task A_job_stored_by_a_running_handler_is_claimed_with_that_jobs_completion_and_wakes_no_slot()
    {
        await looks.WaitForAsync(Started);
        var child = app.Script.Add((_, _, _) => Task.FromResult<string?>("child done"));
        long childId = 0;
        var parent = app.Script.Add(async (_, _, ct) =>
        {
            childId = await StoreJobAsync(child, ct);
            return "parent done";
        });

        var ids = await app.EnqueueAsync(parent);
        var parentJob = await app.WaitAsync(ids[0]);
        var childJob = await app.WaitAsync(childId);

        Assert.Equal(("parent done", "child done"), (parentJob.Result, childJob.Result));
        Assert.Equal(Started + 1, looks.Count); // the parent's one; the child was claimed in the write that completed the parent
        Assert.True(childJob.Attempts == 1 && childJob.State == JobState.Succeeded);
    }

    [Fact]
    public async Task A_job_stored_by_a_handler_still_wakes_a_slot_when_the_completion_claims_an_older_job_instead()
    {
        await looks.WaitForAsync(Started);
        var storeChild = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var older = app.Script.Add((_, _, _) => Task.FromResult<string?>("older done"));
        var child = app.Script.Add((_, _, _) => Task.FromResult<string?>("child done"));
        long childId = 0;
        var parent = app.Script.Add(async (_, _, ct) =>
        {
            await storeChild.Task.WaitAsync(ct);
            childId = await StoreJobAsync(child, ct);
            return "parent done";
        });
        var parentId = (await app.EnqueueAsync(parent))[0];

        // A job no wake-up announces (as one stored by another process on the file, found by the next poll): older than
        // the child, so the parent's completion claims it rather than the child.
        var olderJob = app.Queue.NewJob(ScriptedJobHandler.TestKind, new TestPayload(older, 0));
        await app.WithDbAsync(async db => { db.Jobs.Add(olderJob); return await db.SaveChangesAsync(); });
        storeChild.SetResult();

        Assert.Equal("parent done", (await app.WaitAsync(parentId)).Result);
        Assert.Equal("older done", (await app.WaitAsync(olderJob.Id)).Result);
        Assert.Equal("child done", (await app.WaitAsync(childId)).Result); // its wake-up was kept: no ten-minute poll
    }

    [Fact]
    public async Task A_notify_with_nothing_to_claim_sends_one_slot_to_look_not_all_four()
    {
        await looks.WaitForAsync(Started);

        app.Queue.NotifySpreading(); // what another instance's NOTIFY does
        await looks.WaitForAsync(Started + 1);
        var ids = await app.EnqueueAsync(app.Script.Add((_, _, _) => Task.FromResult<string?>("done")));
        Assert.Equal(JobState.Succeeded, (await app.WaitAsync(ids[0])).State);

        // Waking every idle slot made it 9: three claims that found nothing. 7 when the job's slot took the NOTIFY's wake-up
        // before the slot woken for it had (between its look and taking it): that slot then passes it on, once.
        Assert.InRange(looks.Count, Started + 2, Started + 3);
    }

    [Fact]
    public async Task A_notify_for_several_jobs_spreads_them_over_the_idle_slots()
    {
        await looks.WaitForAsync(Started);
        var started = 0;
        var allStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var together = app.Script.Add(async (_, _, ct) =>
        {
            if (Interlocked.Increment(ref started) == 3) allStarted.SetResult();
            await allStarted.Task.WaitAsync(TimeSpan.FromSeconds(30), ct); // runs only when three slots run at once
            return "together";
        });
        // Three jobs in one transaction that no in-process wake-up announces (as another instance's would be): one NOTIFY.
        var jobs = Enumerable.Range(0, 3).Select(i => app.Queue.NewJob(ScriptedJobHandler.TestKind, new TestPayload(together, i))).ToList();
        await app.WithDbAsync(async db => { db.Jobs.AddRange(jobs); return await db.SaveChangesAsync(); });

        app.Queue.NotifySpreading();

        foreach (var job in jobs) Assert.Equal("together", (await app.WaitAsync(job.Id)).Result);
    }

    /// <summary>Stores a job of <paramref name="scenario"/> as a webhook job stores its publishes: from the running handler, as its last step.</summary>
    async Task<long> StoreJobAsync(string scenario, CancellationToken ct)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var job = app.Queue.Enqueue(db, ScriptedJobHandler.TestKind, new TestPayload(scenario, 0));
        await db.SaveChangesAsync(ct);
        return job.Id;
    }

    /// <summary>Counts one queue's looks for work (the <c>selftune.jobs.looks</c> metric, by its worker id).</summary>
    sealed class LookCounter : IDisposable
    {
        readonly MeterListener listener = new();
        readonly SemaphoreSlim looked = new(0);
        readonly ConcurrentDictionary<string, int> byWorker = new();
        readonly Func<string> worker;

        public LookCounter(Func<string> worker)
        {
            this.worker = worker;
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == SelfTuneTelemetry.Name && instrument.Name == "selftune.jobs.looks") l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag is { Key: "worker", Value: string id })
                    {
                        byWorker.AddOrUpdate(id, (int)value, (_, n) => n + (int)value);
                        looked.Release();
                    }
            });
            listener.Start();
        }

        public int Count => byWorker.GetValueOrDefault(worker());

        /// <summary>Until <paramref name="expected"/> looks were made (an event per look, no sleeping).</summary>
        public async Task WaitForAsync(int expected)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (Count < expected)
                Assert.True(await looked.WaitAsync(deadline - DateTime.UtcNow), $"{Count} looks, expected {expected}");
        }

        public void Dispose() => listener.Dispose();
    }
}
