using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SelfTune.Admin.Data;
using SelfTune.Admin.Jobs;

namespace SelfTune.Admin.Tests.Jobs;

public sealed class JobShutdownTests
{
    static readonly TimeSpan SafetyNet = TimeSpan.FromSeconds(30);

    // The production lease, not the kit's 2 s: these tests are about one run of one job at shutdown. With 2 s, a loaded
    // machine (the first EF queries of the handler and of the renewal being compiled) can let the lease run out before
    // its first renewal; another slot then takes the job over and the run that is stopped is attempt 2.
    static readonly TimeSpan Lease = new JobOptions().Lease;

    [Fact]
    public async Task Graceful_stop_lets_a_running_job_finish()
    {
        var dataPath = NewDataPath();
        try
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var app = new JobsAppFactory(dataPath, lease: Lease);
            bool? stoppingWhenDone = null;
            var scenario = app.Script.Add(async (_, _, ct) =>
            {
                started.SetResult();
                await release.Task.WaitAsync(SafetyNet, ct);
                stoppingWhenDone = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;
                return "finished during shutdown";
            });
            var id = (await app.EnqueueAsync(scenario))[0];
            await started.Task.WaitAsync(SafetyNet);

            var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(stopping.SetResult);
            var disposal = app.DisposeAsync().AsTask();
            await stopping.Task.WaitAsync(SafetyNet);
            release.SetResult();
            await disposal.WaitAsync(SafetyNet);

            Assert.True(stoppingWhenDone);
            await using var db = JobsAppFactory.OpenDatabase(dataPath);
            var job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
            Assert.Equal((JobState.Succeeded, "finished during shutdown", 1), (job.State, job.Result, job.Attempts));
        }
        finally
        {
            DeleteDataPath(dataPath);
        }
    }

    [Fact]
    public async Task A_job_still_running_at_the_shutdown_timeout_is_cancelled_and_given_back()
    {
        var dataPath = NewDataPath();
        try
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var app = new JobsAppFactory(dataPath, lease: Lease)
            {
                ExtraServices = s => s.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(200)),
            };
            var scenario = app.Script.Add(async (_, _, ct) =>
            {
                // Not unregistered when the handler ends: the token's callbacks run last-registered first, so the delay's
                // callback lets the handler end (on another thread) before this one has run, and a registration disposed
                // then would never run. The worker's StopAsync returns only after every callback of the cancellation ran.
                ct.Register(() => cancelled.TrySetResult());
                started.SetResult();
                await Task.Delay(Timeout.Infinite, ct); // a handler that would run for ever
                return null;
            });
            var id = (await app.EnqueueAsync(scenario))[0];
            await started.Task.WaitAsync(SafetyNet);

            await app.DisposeAsync().AsTask().WaitAsync(SafetyNet);

            Assert.True(cancelled.Task.IsCompleted);
            await using var db = JobsAppFactory.OpenDatabase(dataPath);
            var job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
            Assert.Equal(JobState.Pending, job.State);
            Assert.Equal(0, job.Attempts); // the interrupted attempt is not counted
            Assert.Null(job.LockedBy);
        }
        finally
        {
            DeleteDataPath(dataPath);
        }
    }

    static string NewDataPath() => Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));

    static void DeleteDataPath(string dataPath)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
