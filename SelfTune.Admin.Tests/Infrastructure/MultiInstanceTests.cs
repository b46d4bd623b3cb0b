using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Jobs;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>A test that only means something when several instances share a PostgreSQL database (SELFTUNE_TEST_DATABASE=postgres).</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (!TestDatabase.IsPostgres) Skip = "Needs PostgreSQL (SELFTUNE_TEST_DATABASE=postgres; ./test.sh runs it).";
    }
}

/// <summary>
/// Two app instances (two hosts) on one database: what they must share. The hosts are in one process, but share nothing
/// in memory (each its own services, queue and change feed), so whatever reaches the other goes through the database.
/// </summary>
public sealed class MultiInstanceTests : IDisposable
{
    readonly string dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        TestDatabase.Drop(dataPath);
        TestDatabase.ClearSqlitePools();
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    // PostgreSQL only: SQLite is the one-instance setup (two first starts on one new file race on the development seed).
    [PostgresFact]
    public async Task Two_instances_starting_together_on_a_new_database_both_migrate_and_serve()
    {
        await using var a = new AdminAppFactory(dataPath);
        await using var b = new AdminAppFactory(dataPath);

        // Both hosts start (migrate and seed) at once; the migration lock makes one wait for the other.
        var started = await Task.WhenAll(Task.Run(() => a.CreateClient(a.DevelopmentKey)), Task.Run(() => b.CreateClient(b.DevelopmentKey)));

        foreach (var client in started)
            Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(1, await a.WithDbAsync(db => db.Orgs.CountAsync(o => o.Slug == DevelopmentSeed.OrgSlug)));
    }

    [Fact]
    public async Task What_one_instance_protects_the_other_unprotects()
    {
        // Cookies, antiforgery tokens, install states and stored App credentials are all Data Protection payloads.
        await using var a = new AdminAppFactory(dataPath);
        await using var b = new AdminAppFactory(dataPath);
        var secret = a.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("test").Protect("issued by A");

        var read = b.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("test").Unprotect(secret);

        Assert.Equal("issued by A", read);
    }

    [PostgresFact]
    public async Task A_job_enqueued_on_one_instance_wakes_the_other_instances_worker_without_polling()
    {
        await using var producer = new JobsAppFactory(dataPath, workerEnabled: false);
        await using var worker = new JobsAppFactory(dataPath, workerEnabled: true);
        worker.Settings["Jobs:PollInterval"] = "01:00:00"; // only a notification can wake it within the test
        worker.Settings["Jobs:Workers"] = "1";
        var scenario = worker.Script.Add((_, _, _) => Task.FromResult<string?>("ran on the worker"));
        await ListenerOf(worker).Listening;
        // A job of its own first: once it is done, the one slot has claimed and goes back to sleep for the poll interval.
        Assert.Equal(JobState.Succeeded, (await worker.WaitAsync((await worker.EnqueueAsync(scenario))[0])).State);

        var id = (await producer.EnqueueAsync(scenario))[0];

        var job = await worker.WaitAsync(id);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(worker.Queue.WorkerId, job.LockedBy);
    }

    [PostgresFact]
    public async Task A_change_published_on_one_instance_reaches_the_other_instances_subscribers_once()
    {
        await using var instances = await TwoListeningInstancesAsync();
        var (a, b) = (instances.A, instances.B);
        var org = Guid.NewGuid();
        var onA = new List<Change>();
        var onB = new TaskCompletionSource<Change>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subA = a.Services.GetRequiredService<IChangeFeed>().Subscribe(org, [ChangeKind.Attempt], c => { lock (onA) onA.Add(c); });
        using var subB = b.Services.GetRequiredService<IChangeFeed>().Subscribe(org, [ChangeKind.Attempt], c => onB.TrySetResult(c));
        var change = new Change(org, ChangeKind.Attempt, Guid.NewGuid(), Guid.NewGuid());

        a.Services.GetRequiredService<IChangeFeed>().Publish(change);

        Assert.Equal(change, await onB.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        // Everyone listens, A included: its own notification comes back to it and must not be delivered twice. B answers
        // after it heard A, and a listener hears notifications in commit order: once A hears B, it has had its echo.
        var answer = new Change(org, ChangeKind.Attempt, Guid.NewGuid());
        var heardAnswer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subAnswer = a.Services.GetRequiredService<IChangeFeed>().Subscribe(org, [ChangeKind.Attempt], c => { if (c == answer) heardAnswer.TrySetResult(); });
        b.Services.GetRequiredService<IChangeFeed>().Publish(answer);
        await heardAnswer.Task.WaitAsync(TimeSpan.FromSeconds(10));
        lock (onA) Assert.Equal([change, answer], onA);
    }

    [PostgresFact]
    public async Task Changes_published_in_a_burst_on_one_instance_all_reach_the_other_in_order()
    {
        // A burst is sent a few statements at a time (PostgresChangeFeed gathers what is waiting): none may be lost or reordered.
        await using var instances = await TwoListeningInstancesAsync();
        var (a, b) = (instances.A, instances.B);
        var org = Guid.NewGuid();
        var sent = Enumerable.Range(0, 2000).Select(_ => new Change(org, ChangeKind.Delivery, Guid.NewGuid())).ToList();
        var received = new List<Change>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subB = b.Services.GetRequiredService<IChangeFeed>().Subscribe(org, [ChangeKind.Delivery], c =>
        {
            lock (received) { received.Add(c); if (received.Count == sent.Count) all.TrySetResult(); }
        });

        var feed = a.Services.GetRequiredService<IChangeFeed>();
        foreach (var change in sent) feed.Publish(change);

        await all.Task.WaitAsync(TimeSpan.FromSeconds(30));
        lock (received) Assert.Equal(sent, received);
    }

    [PostgresFact]
    public async Task After_its_listening_connection_drops_an_instance_reconnects_and_its_subscribers_re_read()
    {
        await using var app = new AdminAppFactory(dataPath);
        _ = app.Services;
        await ListenerOf(app).Listening;
        var org = Guid.NewGuid();
        var resync = new TaskCompletionSource<Change>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var sub = app.Services.GetRequiredService<IChangeFeed>().Subscribe(org, [ChangeKind.Delivery], c => resync.TrySetResult(c));

        await app.WithDbAsync(db => db.Database.ExecuteSqlRawAsync(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = {0}",
            PostgresNotifications.ApplicationName));

        var change = await resync.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(new Change(org, ChangeKind.Delivery), change); // no ids: "re-read what you show"
    }

    /// <summary>Two instances on this test's database, each listening for the other's notifications.</summary>
    async Task<Instances> TwoListeningInstancesAsync()
    {
        var instances = new Instances(new AdminAppFactory(dataPath), new AdminAppFactory(dataPath));
        try
        {
            _ = instances.A.Services; // A first: it migrates the new database
            await ListenerOf(instances.A).Listening;
            await ListenerOf(instances.B).Listening;
            return instances;
        }
        catch
        {
            await instances.DisposeAsync();
            throw;
        }
    }

    sealed record Instances(AdminAppFactory A, AdminAppFactory B) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await B.DisposeAsync();
            await A.DisposeAsync();
        }
    }

    static PostgresNotifications ListenerOf(AdminAppFactory app) =>
        app.Services.GetServices<IHostedService>().OfType<PostgresNotifications>().Single();
}
