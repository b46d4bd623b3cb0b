using SelfTune.Admin.Data;

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
}
