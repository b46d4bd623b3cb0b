using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.GitHubAppClient;
using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.Jobs;

/// <summary>Claiming and fencing with independent queues on one SQLite file, as two app instances would be.</summary>
public sealed class JobClaimTests(ITestOutputHelper output)
{
    static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Two_claimers_in_tight_loops_claim_every_job_exactly_once()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new ManualTimeProvider(T0);
        var a = database.CreateQueue(clock);
        var b = database.CreateQueue(clock);
        Assert.NotEqual(a.WorkerId, b.WorkerId);

        const int total = 200;
        await using (var db = database.CreateDb())
        {
            // Every third job is keyed (five keys), so the key rule is exercised under contention too.
            for (var n = 0; n < total; n++) a.Enqueue(db, "work", new { n }, n % 3 == 0 ? $"key-{n % 5}" : null);
            await db.SaveChangesAsync();
        }

        var claims = new ConcurrentBag<(long Id, string Worker)>();
        var keyedRunOrder = new ConcurrentDictionary<string, ConcurrentQueue<long>>();
        var finished = 0;
        // Only a guard against a hang: 400 contended writes take well under a second when quiet, but a busy 2-core CI
        // machine has been seen to need more than 15 s (SQLite's busy handler backs off by sleeping).
        using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        async Task ClaimLoopAsync(JobQueue queue)
        {
            while (Volatile.Read(ref finished) < total)
            {
                safety.Token.ThrowIfCancellationRequested();
                var job = await queue.TryClaimAsync(safety.Token);
                if (job is null)
                {
                    await Task.Yield(); // the rest is claimed or held back by its key: go again
                    continue;
                }
                claims.Add((job.Id, queue.WorkerId));
                if (job.ConcurrencyKey is { } key) keyedRunOrder.GetOrAdd(key, _ => new()).Enqueue(job.Id);
                Assert.True(await queue.CompleteAsync(job, queue.WorkerId, safety.Token));
                Interlocked.Increment(ref finished);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => ClaimLoopAsync(i % 2 == 0 ? a : b))));

        Assert.Equal(total, claims.Count);
        Assert.Equal(total, claims.Select(c => c.Id).Distinct().Count());
        // How the claims split between a and b is up to SQLite's locking (a blocked writer backs off), so it is only reported.
        output.WriteLine($"a claimed {claims.Count(c => c.Worker == a.WorkerId)}, b claimed {claims.Count(c => c.Worker == b.WorkerId)}");
        foreach (var (key, order) in keyedRunOrder) Assert.Equal(order.Order(), order);

        await using var check = database.CreateDb();
        var stored = await check.Jobs.AsNoTracking().ToListAsync();
        Assert.All(stored, j =>
        {
            Assert.Equal(JobState.Succeeded, j.State);
            Assert.Equal(1, j.Attempts);
            Assert.Equal(j.LockedBy, j.Result);
        });
    }

    [Fact]
    public async Task Expired_lease_is_taken_over_and_the_old_owner_cannot_overwrite_the_outcome()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new ManualTimeProvider(T0);
        var lease = TimeSpan.FromMinutes(1);
        var a = database.CreateQueue(clock, lease);
        var b = database.CreateQueue(clock, lease);
        var id = await EnqueueAsync(database, a);

        var claimedByA = await a.TryClaimAsync();
        Assert.NotNull(claimedByA);
        Assert.Equal((id, 1, a.WorkerId), (claimedByA.Id, claimedByA.Attempts, claimedByA.LockedBy));
        Assert.Null(await b.TryClaimAsync()); // the lease holds

        clock.Now += lease + TimeSpan.FromSeconds(1); // A stopped renewing (it hung or died)
        var claimedByB = await b.TryClaimAsync();
        Assert.NotNull(claimedByB);
        Assert.Equal((id, 2, b.WorkerId), (claimedByB.Id, claimedByB.Attempts, claimedByB.LockedBy));

        Assert.False(await a.RenewLeaseAsync(claimedByA));
        Assert.True(await b.RenewLeaseAsync(claimedByB));
        Assert.True(await b.CompleteAsync(claimedByB, "from B"));
        Assert.False(await a.CompleteAsync(claimedByA, "from A"));
        Assert.False(await a.FailAsync(claimedByA, "late failure"));
        Assert.False(await a.RetryLaterAsync(claimedByA, "late retry", clock.Now));

        var job = (await a.FindAsync(id))!;
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal("from B", job.Result);
        Assert.Equal(b.WorkerId, job.LockedBy);
        Assert.Null(job.LastError);
    }

    [Fact]
    public async Task Completing_a_job_claims_the_next_in_the_same_write_and_a_lost_claim_completes_nothing()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new ManualTimeProvider(T0);
        var lease = TimeSpan.FromMinutes(1);
        var a = database.CreateQueue(clock, lease);
        var b = database.CreateQueue(clock, lease);
        var first = await EnqueueAsync(database, a, "conn-1");
        var second = await EnqueueAsync(database, a, "conn-1");
        var third = await EnqueueAsync(database, a);

        // The completion and the claim are one transaction: the claim already sees the first job finished, so the next
        // job of its key is runnable and, being older, comes before the unkeyed one.
        var claimed = (await a.TryClaimAsync())!;
        Assert.Equal(first, claimed.Id);
        var (completed, next) = await a.CompleteAndClaimNextAsync(claimed, "done");
        Assert.True(completed);
        Assert.Equal((second, 1, a.WorkerId), (next!.Id, next.Attempts, next.LockedBy));
        Assert.Equal((JobState.Succeeded, "done"), ((await a.FindAsync(first))!.State, (await a.FindAsync(first))!.Result));

        // A's lease on the second job runs out and B takes it over: A's late completion is refused, and still claims.
        clock.Now += lease + TimeSpan.FromSeconds(1);
        var takenOver = (await b.TryClaimAsync())!;
        Assert.Equal(second, takenOver.Id);
        (completed, next) = await a.CompleteAndClaimNextAsync(next, "stale");
        Assert.False(completed);
        Assert.Equal((third, a.WorkerId), (next!.Id, next.LockedBy));
        var stillB = (await a.FindAsync(second))!;
        Assert.Equal((JobState.Running, b.WorkerId, (string?)null), (stillB.State, stillB.LockedBy, stillB.Result));

        // Nothing left to claim: the completion alone.
        (completed, next) = await a.CompleteAndClaimNextAsync(next, "last");
        Assert.True(completed);
        Assert.Null(next);
    }

    [Fact]
    public async Task A_handlers_last_write_and_its_completion_are_one_transaction_and_a_lost_claim_keeps_neither()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new ManualTimeProvider(T0);
        var lease = TimeSpan.FromMinutes(1);
        var a = database.CreateQueue(clock, lease);
        var b = database.CreateQueue(clock, lease);
        var parent = await EnqueueAsync(database, a);

        // As a webhook job saves its processed mark with the publish it queued: the queued job is claimed for the slot
        // in the same write that completes the parent.
        var claimed = (await a.TryClaimAsync())!;
        await using (var db = database.CreateDb())
        {
            var child = a.Enqueue(db, "work", new { child = 1 });
            var (completed, next) = await a.SaveAndCompleteAsync(db, claimed, "processed", CancellationToken.None);
            Assert.True(completed);
            Assert.Equal((child.Id, JobState.Running, a.WorkerId), (next!.Id, next.State, next.LockedBy));
            Assert.Equal((JobState.Succeeded, "processed"), ((await a.FindAsync(parent))!.State, (await a.FindAsync(parent))!.Result));
            await a.CompleteAsync(next, "child done");
        }

        // A's lease runs out and B takes the job over: A's late write keeps nothing, neither its rows nor the completion.
        var second = await EnqueueAsync(database, a);
        var stale = (await a.TryClaimAsync())!;
        clock.Now += lease + TimeSpan.FromSeconds(1);
        Assert.Equal(second, (await b.TryClaimAsync())!.Id);
        await using (var db = database.CreateDb())
        {
            var orphan = a.Enqueue(db, "work", new { orphan = 1 });
            var (completed, next) = await a.SaveAndCompleteAsync(db, stale, "stale", CancellationToken.None);
            Assert.Equal((false, (Job?)null), (completed, next));
            await using var check = database.CreateDb();
            Assert.False(await check.Jobs.AnyAsync(j => j.Payload.Contains("orphan")));
        }
        var stillB = (await a.FindAsync(second))!;
        Assert.Equal((JobState.Running, b.WorkerId, (string?)null), (stillB.State, stillB.LockedBy, stillB.Result));
    }

    [Fact]
    public async Task The_same_worker_id_is_fenced_by_the_attempt_too()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new ManualTimeProvider(T0);
        var queue = database.CreateQueue(clock, TimeSpan.FromMinutes(1));
        await EnqueueAsync(database, queue);

        var first = (await queue.TryClaimAsync())!;
        clock.Now += TimeSpan.FromMinutes(2);
        var second = (await queue.TryClaimAsync())!; // another slot of the same process takes it over

        Assert.Equal(first.Id, second.Id);
        Assert.False(await queue.CompleteAsync(first, "stale"));
        Assert.True(await queue.CompleteAsync(second, "fresh"));
        Assert.Equal("fresh", (await queue.FindAsync(first.Id))!.Result);
    }

    [Fact]
    public async Task A_keyed_job_waiting_on_backoff_holds_back_newer_jobs_with_its_key_only()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new ManualTimeProvider(T0);
        var queue = database.CreateQueue(clock);
        var first = await EnqueueAsync(database, queue, "conn-1");
        var second = await EnqueueAsync(database, queue, "conn-1");
        var unkeyed = await EnqueueAsync(database, queue);
        var otherKey = await EnqueueAsync(database, queue, "conn-2");

        var claimed = (await queue.TryClaimAsync())!;
        Assert.Equal(first, claimed.Id);
        Assert.True(await queue.RetryLaterAsync(claimed, "busy upstream", clock.Now + TimeSpan.FromMinutes(1)));

        // first is Pending but not due: second (same key) must wait; the others may run.
        Assert.Equal(unkeyed, (await queue.TryClaimAsync())!.Id);
        Assert.Equal(otherKey, (await queue.TryClaimAsync())!.Id);
        Assert.Null(await queue.TryClaimAsync());

        clock.Now += TimeSpan.FromMinutes(1);
        var retried = (await queue.TryClaimAsync())!;
        Assert.Equal((first, 2), (retried.Id, retried.Attempts));
        Assert.Null(await queue.TryClaimAsync()); // second waits while first runs
        Assert.True(await queue.CompleteAsync(retried, null));
        Assert.Equal(second, (await queue.TryClaimAsync())!.Id);
    }

    [Fact]
    public async Task A_failed_job_no_longer_blocks_its_key()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var queue = database.CreateQueue(new ManualTimeProvider(T0));
        var first = await EnqueueAsync(database, queue, "conn-1");
        var second = await EnqueueAsync(database, queue, "conn-1");

        Assert.True(await queue.FailAsync((await queue.TryClaimAsync())!, "bad archive"));
        Assert.Equal(second, (await queue.TryClaimAsync())!.Id);
        Assert.Equal(JobState.Failed, (await queue.FindAsync(first))!.State);
    }

    [Fact]
    public async Task Released_job_is_claimable_again_without_counting_the_attempt()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var queue = database.CreateQueue(new ManualTimeProvider(T0));
        var id = await EnqueueAsync(database, queue);

        Assert.True(await queue.ReleaseAsync((await queue.TryClaimAsync())!));
        var again = (await queue.TryClaimAsync())!;

        Assert.Equal((id, 1), (again.Id, again.Attempts));
    }

    [Fact]
    public async Task Waiting_sees_a_job_finished_by_another_instance()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new ManualTimeProvider(T0);
        var runner = database.CreateQueue(clock);
        var waiter = database.CreateQueue(clock);
        var id = await EnqueueAsync(database, runner);
        var claimed = (await runner.TryClaimAsync())!;

        var wait = waiter.WaitForCompletionAsync(id, TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.True(await runner.CompleteAsync(claimed, "elsewhere"));
        var job = await wait; // no in-process signal reaches `waiter`: found by polling

        Assert.Equal((JobState.Succeeded, "elsewhere"), (job.State, job.Result));
    }

    [Fact]
    public async Task Waiting_for_a_missing_job_throws()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var queue = database.CreateQueue(new ManualTimeProvider(T0));

        await Assert.ThrowsAsync<InvalidOperationException>(() => queue.WaitForCompletionAsync(12345, TimeSpan.FromSeconds(5), CancellationToken.None));
    }

    [Theory]
    [InlineData(1, 0.0, 50)]
    [InlineData(1, 1.0, 100)]
    [InlineData(3, 1.0, 400)]
    [InlineData(30, 1.0, 600_000)]
    [InlineData(30, 0.0, 300_000)]
    public void Retry_delay_doubles_with_jitter_and_is_capped(int attempt, double jitter, int expectedMs)
    {
        // As JobWorker waits after the job's attempt number `attempt` (from 1) failed.
        var delay = Backoff.Exponential(attempt - 1, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10), jitter, spread: 0.5);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), delay);
    }

    static async Task<long> EnqueueAsync(SharedJobsDatabase database, JobQueue queue, string? key = null)
    {
        await using var db = database.CreateDb();
        var job = queue.Enqueue(db, "work", new { }, key);
        await db.SaveChangesAsync();
        return job.Id;
    }
}
