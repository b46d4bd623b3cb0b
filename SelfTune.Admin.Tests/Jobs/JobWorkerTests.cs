using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.Jobs;

namespace SelfTune.Admin.Tests.Jobs;

public sealed class JobWorkerFixture : IAsyncLifetime
{
    /// <summary>
    /// The lease each test's jobs hold. A job is taken over when its renewals (every third of the lease) stop for two
    /// thirds of it; under a full parallel test run a 2 s lease was once taken over from a live job (CI, PostgreSQL
    /// suite): the process stalled for more than 1.3 s. 6 s rides out a 4 s stall.
    /// </summary>
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);

    public JobsAppFactory Factory { get; } = new(lease: Lease);

    public Task InitializeAsync()
    {
        _ = Factory.Services; // starts the host, so the worker runs
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Factory.DisposeAsync().AsTask();
}

/// <summary>The real app's worker (4 slots, a 6 s lease, 50 ms retry base) running the "test" handler.</summary>
public sealed class JobWorkerTests(JobWorkerFixture fixture) : IClassFixture<JobWorkerFixture>
{
    readonly JobsAppFactory app = fixture.Factory;

    static readonly TimeSpan SafetyNet = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Enqueued_job_runs_and_its_result_is_stored()
    {
        var scenario = app.Script.Add((_, p, _) => Task.FromResult<string?>($"done {p.N}"));
        var (id, _) = await EnqueueOneAsync(scenario);

        var job = await app.WaitAsync(id);

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("done 0", job.Result);
        Assert.Equal(1, job.Attempts);
        Assert.NotNull(job.FinishedAt);
        Assert.Null(job.LastError);
    }

    [Fact]
    public async Task Enqueue_is_saved_with_the_callers_rows_or_not_at_all()
    {
        var scenario = app.Script.Add((_, _, _) => Task.FromResult<string?>(null));
        var jobsBefore = await app.WithDbAsync(db => Task.FromResult(db.Jobs.Count()));

        // The caller's save fails (a duplicate delivery id): the job added to the same context is not stored either.
        var deliveryId = Guid.NewGuid().ToString();
        await app.WithDbAsync(async db =>
        {
            db.Deliveries.Add(NewDelivery(deliveryId));
            await db.SaveChangesAsync();
            return 0;
        });
        await Assert.ThrowsAnyAsync<Exception>(() => app.WithDbAsync(async db =>
        {
            db.Deliveries.Add(NewDelivery(deliveryId));
            app.Queue.Enqueue(db, ScriptedJobHandler.TestKind, new TestPayload(scenario, 0));
            await db.SaveChangesAsync();
            return 0;
        }));

        Assert.Equal(jobsBefore, await app.WithDbAsync(db => Task.FromResult(db.Jobs.Count())));

        static WebhookDelivery NewDelivery(string id) => new()
        {
            DeliveryId = id, Event = "ping", ReceivedAt = DateTimeOffset.UtcNow, Outcome = DeliveryOutcome.Queued, Payload = "{}",
        };
    }

    [Fact]
    public async Task Transient_failures_are_retried_until_success()
    {
        var runs = 0;
        var scenario = app.Script.Add((_, _, _) => Interlocked.Increment(ref runs) <= 2
            ? throw new InvalidOperationException($"flaky {runs}")
            : Task.FromResult<string?>("finally"));
        var (id, _) = await EnqueueOneAsync(scenario);

        var job = await app.WaitAsync(id);

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("finally", job.Result);
        Assert.Equal(3, job.Attempts);
        Assert.Equal(3, runs);
        Assert.Contains("flaky 2", job.LastError); // the last transient error stays visible
    }

    [Fact]
    public async Task Permanent_failure_fails_at_once()
    {
        var scenario = app.Script.Add((_, _, _) => throw new PermanentJobFailure("the repository is gone"));
        var (id, _) = await EnqueueOneAsync(scenario);

        var job = await app.WaitAsync(id);

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(1, job.Attempts);
        Assert.Equal("the repository is gone", job.LastError);
        Assert.NotNull(job.FinishedAt);
    }

    [Fact]
    public async Task Exhausting_max_attempts_fails_the_job()
    {
        var runs = 0;
        var scenario = app.Script.Add((_, _, _) =>
        {
            Interlocked.Increment(ref runs);
            throw new HttpRequestException("502 from upstream");
        });
        var (id, _) = await EnqueueOneAsync(scenario, maxAttempts: 3);

        var job = await app.WaitAsync(id);

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(3, job.Attempts);
        Assert.Equal(3, runs);
        Assert.Equal("HttpRequestException: 502 from upstream", job.LastError);
    }

    [Fact]
    public async Task Unknown_kind_fails_with_a_clear_error()
    {
        var ids = await app.EnqueueAsync("unused", kind: "no-such-kind");

        var job = await app.WaitAsync(ids[0]);

        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(1, job.Attempts);
        Assert.Contains("No job handler is registered for kind 'no-such-kind'", job.LastError);
    }

    [Fact]
    public async Task Only_the_handler_registered_for_a_jobs_kind_is_built_to_run_it()
    {
        var built = new HandlerConstructions();
        await using var other = new JobsAppFactory
        {
            ExtraServices = s => s.AddSingleton(built).AddKeyedScoped<IJobHandler, OtherKindHandler>(OtherKindHandler.Kind),
        };
        var scenario = other.Script.Add((_, _, _) => Task.FromResult<string?>("ran"));

        var job = await other.WaitAsync((await other.EnqueueAsync(scenario))[0]);

        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("ran", job.Result);
        Assert.Equal(0, built.Count); // the other kind's handler was not constructed for this job

        var otherJob = await other.WaitAsync((await other.EnqueueAsync("unused", kind: OtherKindHandler.Kind))[0]);

        Assert.Equal(JobState.Succeeded, otherJob.State);
        Assert.Equal(OtherKindHandler.Kind, otherJob.Result);
        Assert.Equal(1, built.Count);
    }

    public sealed class HandlerConstructions
    {
        int count;
        public int Count => Volatile.Read(ref count);
        public void Add() => Interlocked.Increment(ref count);
    }

    sealed class OtherKindHandler : IJobHandler
    {
        public const string Kind = "other-kind";

        public OtherKindHandler(HandlerConstructions built) => built.Add();

        public Task<string?> RunAsync(Job job, CancellationToken ct) => Task.FromResult<string?>(Kind);
    }

    [Fact]
    public async Task Jobs_with_one_concurrency_key_run_one_at_a_time_in_id_order()
    {
        int current = 0, max = 0;
        var order = new ConcurrentQueue<long>();
        var scenario = app.Script.Add(async (job, _, ct) =>
        {
            var now = Interlocked.Increment(ref current);
            InterlockedMax(ref max, now);
            order.Enqueue(job.Id);
            await Task.Delay(10, ct); // some work, so an overlapping run would show
            Interlocked.Decrement(ref current);
            return null;
        });
        var key = "connection:" + Guid.NewGuid();
        var ids = await app.EnqueueAsync(scenario, 10, _ => key);

        foreach (var id in ids) Assert.Equal(JobState.Succeeded, (await app.WaitAsync(id)).State);

        Assert.Equal(1, max);
        Assert.Equal(ids, order.ToArray());
    }

    [Fact]
    public async Task A_keyed_job_in_retry_backoff_is_not_overtaken_by_a_newer_one_with_its_key()
    {
        var runs = new ConcurrentQueue<string>();
        var firstTry = true;
        var scenario = app.Script.Add((_, p, _) =>
        {
            runs.Enqueue($"{p.N}");
            if (p.N == 0 && firstTry)
            {
                firstTry = false;
                throw new TimeoutException("try again");
            }
            return Task.FromResult<string?>(null);
        });
        var key = "connection:" + Guid.NewGuid();
        var ids = await app.EnqueueAsync(scenario, 2, _ => key);

        foreach (var id in ids) Assert.Equal(JobState.Succeeded, (await app.WaitAsync(id)).State);

        Assert.Equal(["0", "0", "1"], runs.ToArray());
    }

    [Fact]
    public async Task Jobs_with_different_keys_run_in_parallel()
    {
        int entered = 0, current = 0, max = 0;
        var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scenario = app.Script.Add(async (_, _, ct) =>
        {
            InterlockedMax(ref max, Interlocked.Increment(ref current));
            if (Interlocked.Increment(ref entered) >= 2) barrier.TrySetResult();
            await barrier.Task.WaitAsync(SafetyNet, ct); // only passes once two runs are inside at once
            Interlocked.Decrement(ref current);
            return null;
        });
        var prefix = Guid.NewGuid().ToString("N");
        var ids = await app.EnqueueAsync(scenario, 4, n => $"{prefix}:{n}");

        foreach (var id in ids) Assert.Equal(JobState.Succeeded, (await app.WaitAsync(id)).State);

        Assert.True(max >= 2, $"at most {max} ran at once");
    }

    [Fact]
    public async Task A_long_job_renews_its_lease_and_is_not_taken_over()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        var scenario = app.Script.Add(async (_, _, ct) =>
        {
            Interlocked.Increment(ref runs);
            started.TrySetResult();
            await release.Task.WaitAsync(SafetyNet, ct);
            return "held";
        });
        var (id, _) = await EnqueueOneAsync(scenario);
        await started.Task.WaitAsync(SafetyNet);
        var firstLease = (await app.Queue.FindAsync(id))!.LockedUntil!.Value;

        // Held until the lease it was claimed with has run out (the slots look every 100 ms, so one would take an
        // unrenewed job over by then) and the stored lease end has moved on past it.
        await Eventually.HoldsAsync(async () => (await app.Queue.FindAsync(id))!.LockedUntil > firstLease, "the lease is renewed", SafetyNet);
        var pastFirstLease = firstLease - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(300);
        if (pastFirstLease > TimeSpan.Zero) await Task.Delay(pastFirstLease);
        Assert.True((await app.Queue.FindAsync(id))!.LockedUntil > DateTimeOffset.UtcNow, "the renewed lease still holds past the first one's end");
        release.SetResult();

        var job = await app.WaitAsync(id);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(1, job.Attempts);
        Assert.Equal(1, runs);
        Assert.Equal(app.Queue.WorkerId, job.LockedBy);
    }

    [Fact]
    public async Task Waiting_past_the_timeout_throws_TimeoutException()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scenario = app.Script.Add(async (_, _, ct) =>
        {
            await release.Task.WaitAsync(SafetyNet, ct);
            return null;
        });
        var (id, _) = await EnqueueOneAsync(scenario);

        await Assert.ThrowsAsync<TimeoutException>(() => app.Queue.WaitForCompletionAsync(id, TimeSpan.FromMilliseconds(100), CancellationToken.None));

        release.SetResult();
        Assert.Equal(JobState.Succeeded, (await app.WaitAsync(id)).State);
    }

    [Fact]
    public async Task Payload_round_trips_with_web_json_defaults()
    {
        var ids = await app.WithDbAsync(async db =>
        {
            var job = app.Queue.Enqueue(db, "not-run", new { DeliveryId = "abc", RepoId = 42L }, notBefore: DateTimeOffset.UtcNow.AddDays(1));
            await db.SaveChangesAsync();
            return job.Id;
        });
        var stored = (await app.Queue.FindAsync(ids))!;

        Assert.Equal("""{"deliveryId":"abc","repoId":42}""", stored.Payload);
        Assert.Equal(new Delivery("abc", 42), app.Queue.ReadPayload<Delivery>(stored));
        Assert.Equal(JobState.Pending, stored.State); // not due yet
    }

    sealed record Delivery(string DeliveryId, long RepoId);

    async Task<(long Id, string Scenario)> EnqueueOneAsync(string scenario, int maxAttempts = 5) =>
        ((await app.EnqueueAsync(scenario, maxAttempts: maxAttempts))[0], scenario);

    static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
