using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;
using SelfTune.Admin.Data;
using SelfTune.Admin.Jobs;

namespace SelfTune.Admin.Tests.Jobs;

public sealed class JobRestartTests
{
    [Fact]
    public async Task Jobs_survive_a_restart_and_a_killed_workers_job_is_recovered_after_its_lease()
    {
        var dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));
        const string scenario = "restart";
        try
        {
            long abandoned;
            long[] queued;

            // First "process", worker off: jobs are only enqueued. The oldest is claimed by hand and never finished,
            // as if its worker had been killed mid-run.
            await using (var first = new JobsAppFactory(dataPath, workerEnabled: false, lease: TimeSpan.FromMilliseconds(300)))
            {
                abandoned = (await first.EnqueueAsync(scenario))[0];
                Assert.Equal(abandoned, (await first.Queue.TryClaimAsync())?.Id);
                queued = await first.EnqueueAsync(scenario, 5);
            }

            // Second "process" on the same database, worker on.
            await using var second = new JobsAppFactory(dataPath, workerEnabled: true);
            second.Script.Set(scenario, (_, p, _) => Task.FromResult<string?>($"after restart {p.N}")); // before the host starts

            foreach (var id in queued.Prepend(abandoned))
            {
                var job = await second.WaitAsync(id);
                Assert.Equal(JobState.Succeeded, job.State);
                Assert.StartsWith("after restart", job.Result);
                Assert.Equal(second.Queue.WorkerId, job.LockedBy);
                Assert.Equal(id == abandoned ? 2 : 1, job.Attempts); // the killed run counts as an attempt
            }
        }
        finally
        {
            try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // Issue 8 item 4: a restarted instance takes back its dead workers' jobs at start-up instead of waiting out the lease.

    static readonly TimeSpan LongLease = TimeSpan.FromMinutes(10); // far beyond the tests' waits: only the take-back frees a job

    [Fact]
    public async Task A_restarted_instance_takes_back_a_killed_workers_job_at_once_and_the_killed_run_counts()
    {
        var dataPath = NewDataPath();
        const string scenario = "take-back";
        try
        {
            long held;
            string deadWorker;
            // A "process" that claims a job and dies holding it (its host is disposed without giving the job back).
            await using (var killed = new JobsAppFactory(dataPath, workerEnabled: false, lease: LongLease))
            {
                held = (await killed.EnqueueAsync(scenario))[0];
                var claim = (await killed.Queue.TryClaimAsync())!;
                Assert.Equal((held, 1), (claim.Id, claim.Attempts));
                deadWorker = claim.LockedBy!;
            }

            // Restarted on the same machine: its worker gives the job back before claiming, so it runs long before the lease ends.
            await using var restarted = new JobsAppFactory(dataPath, workerEnabled: true, lease: LongLease);
            restarted.Script.Set(scenario, (_, _, _) => Task.FromResult<string?>("after restart"));
            var job = await restarted.WaitAsync(held);

            Assert.Equal((JobState.Succeeded, "after restart", 2), (job.State, job.Result, job.Attempts));
            Assert.Equal(restarted.Queue.WorkerId, job.LockedBy);
            Assert.NotEqual(deadWorker, job.LockedBy);
        }
        finally
        {
            DeleteDataPath(dataPath);
        }
    }

    [Fact]
    public async Task A_job_that_kills_its_process_every_time_fails_after_max_attempts_instead_of_crash_looping()
    {
        var dataPath = NewDataPath();
        const string scenario = "poison";
        try
        {
            long poison;
            // Two runs, each dying while it holds the job (MaxAttempts 2); the second was taken back at its start-up.
            await using (var run1 = new JobsAppFactory(dataPath, workerEnabled: false, lease: LongLease))
            {
                poison = (await run1.EnqueueAsync(scenario, maxAttempts: 2))[0];
                Assert.Equal(1, (await run1.Queue.TryClaimAsync())!.Attempts);
            }
            await using (var run2 = new JobsAppFactory(dataPath, workerEnabled: false, lease: LongLease))
            {
                Assert.Equal(1, await run2.Queue.TakeBackJobsOfDeadWorkersAsync()); // what its worker does first
                var again = (await run2.Queue.TryClaimAsync())!;
                Assert.Equal((poison, 2), (again.Id, again.Attempts));
            }

            // Run 3 takes it back too, and its claim is attempt 3 of 2: failed without running the handler again.
            var runs = 0;
            await using var run3 = new JobsAppFactory(dataPath, workerEnabled: true, lease: LongLease);
            run3.Script.Set(scenario, (_, _, _) =>
            {
                Interlocked.Increment(ref runs);
                return Task.FromResult<string?>("ran");
            });
            var job = await run3.WaitAsync(poison);

            Assert.Equal((JobState.Failed, 3), (job.State, job.Attempts));
            Assert.Contains("Attempt 2 of 2 was abandoned", job.LastError);
            Assert.Equal(0, runs);
        }
        finally
        {
            DeleteDataPath(dataPath);
        }
    }

    [Fact]
    public async Task Only_running_jobs_of_dead_workers_on_this_machine_are_taken_back()
    {
        await using var database = await SharedJobsDatabase.CreateAsync();
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
        var restarted = database.CreateQueue(clock, LongLease);
        var alive = database.CreateQueue(clock, LongLease); // another instance in this process (same pid), alive
        var gone = database.CreateQueue(clock, LongLease);
        gone.Dispose(); // same pid, other suffix, no longer a live queue: a container restarted with the same pid

        var machine = Environment.MachineName;
        var livePid = Process.GetProcesses().Select(p => p.Id).First(pid => pid > 0 && pid != Environment.ProcessId);
        var holders = new Dictionary<string, string?>
        {
            ["this pid, dead suffix"] = gone.WorkerId,
            ["dead pid"] = $"{machine}:{int.MaxValue}:0badf00d", // no process has this pid
            ["this pid, live queue"] = alive.WorkerId,
            ["this queue"] = restarted.WorkerId,
            ["live pid"] = $"{machine}:{livePid}:0badf00d", // running (even if the pid was reused, the lease decides)
            ["other machine"] = $"{machine}-elsewhere:{int.MaxValue}:0badf00d",
            ["not a worker id"] = "someone",
        };
        var ids = new Dictionary<string, long>();
        var pendingDue = clock.GetUtcNow() + TimeSpan.FromHours(1);
        await using (var db = database.CreateDb())
        {
            var jobs = holders.ToDictionary(h => h.Key, h => new Job
            {
                Kind = "work", Payload = "{}", State = JobState.Running, Attempts = 1, NotBefore = clock.GetUtcNow(), CreatedAt = clock.GetUtcNow(),
                LockedBy = h.Value, LockedUntil = clock.GetUtcNow() + LongLease,
            });
            var pending = new Job { Kind = "work", Payload = "{}", State = JobState.Pending, NotBefore = pendingDue, CreatedAt = clock.GetUtcNow() };
            db.Jobs.AddRange(jobs.Values.Append(pending));
            await db.SaveChangesAsync();
            foreach (var (holder, job) in jobs) ids[holder] = job.Id;
            ids["pending"] = pending.Id;
        }

        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, await restarted.TakeBackJobsOfDeadWorkersAsync());
        Assert.Equal(0, await restarted.TakeBackJobsOfDeadWorkersAsync()); // nothing twice

        foreach (var (holder, id) in ids)
        {
            var job = (await restarted.FindAsync(id))!;
            if (holder is "this pid, dead suffix" or "dead pid")
            {
                // Pending and due now, the killed attempt kept, so the next claim is attempt 2.
                Assert.Equal((JobState.Pending, 1, null, null, clock.GetUtcNow()), (job.State, job.Attempts, job.LockedBy, job.LockedUntil, job.NotBefore));
            }
            else if (holder == "pending")
            {
                Assert.Equal((JobState.Pending, 0, pendingDue), (job.State, job.Attempts, job.NotBefore)); // not a claim: untouched
            }
            else
            {
                Assert.True(job.State == JobState.Running && job.LockedBy == holders[holder], $"{holder}: {job.State} {job.LockedBy}");
            }
        }
        var next = (await restarted.TryClaimAsync())!;
        Assert.Equal((ids["this pid, dead suffix"], 2), (next.Id, next.Attempts));
    }

    static string NewDataPath() => Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));

    static void DeleteDataPath(string dataPath)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
