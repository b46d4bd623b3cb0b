using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Jobs;

public sealed record TestPayload(string Scenario, int N);

/// <summary>What the "test" handler does, per scenario (a test registers one and puts its id in each payload).</summary>
public sealed class JobScript
{
    public delegate Task<string?> Behavior(Job job, TestPayload payload, CancellationToken ct);

    readonly ConcurrentDictionary<string, Behavior> behaviors = new();

    public string Add(Behavior behavior)
    {
        var scenario = Guid.NewGuid().ToString("N");
        behaviors[scenario] = behavior;
        return scenario;
    }

    /// <summary>A scenario with a fixed name, for jobs enqueued before this process existed.</summary>
    public void Set(string scenario, Behavior behavior) => behaviors[scenario] = behavior;

    public Behavior Get(string scenario) => behaviors[scenario];
}

/// <summary>Scoped, and takes the scoped AdminDbContext, as real handlers will.</summary>
public sealed class ScriptedJobHandler(JobScript script, AdminDbContext db) : IJobHandler
{
    public const string TestKind = "test";

    public async Task<string?> RunAsync(Job job, CancellationToken ct)
    {
        Assert.True(await db.Jobs.AnyAsync(j => j.Id == job.Id && j.State == JobState.Running, ct));
        var payload = job.ReadPayload<TestPayload>();
        return await script.Get(payload.Scenario)(job, payload, ct);
    }
}

/// <summary>The app with the "test" job handler and fast queue timings.</summary>
public sealed class JobsAppFactory : AdminAppFactory
{
    public JobsAppFactory(string? dataPath = null, bool workerEnabled = true, TimeSpan? lease = null) : base(dataPath)
    {
        Settings["Jobs:Enabled"] = workerEnabled ? "true" : "false";
        Settings["Jobs:Workers"] = "4";
        Settings["Jobs:PollInterval"] = "00:00:00.100";
        Settings["Jobs:Lease"] = (lease ?? TimeSpan.FromSeconds(2)).ToString();
        Settings["Jobs:RetryBaseDelay"] = "00:00:00.050";
        Settings["Jobs:MaxRetryDelay"] = "00:00:00.200";
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(s =>
        {
            s.AddSingleton(Script);
            s.AddKeyedScoped<IJobHandler, ScriptedJobHandler>(ScriptedJobHandler.TestKind);
            ExtraServices?.Invoke(s);
        });
    }

    public Action<IServiceCollection>? ExtraServices { get; init; }

    /// <summary>The database of a data folder, readable after the app using it was disposed.</summary>
    public static AdminDbContext OpenDatabase(string dataPath) => TestDatabase.Open(dataPath);

    public JobQueue Queue => Services.GetRequiredService<JobQueue>();
    /// <summary>The handler's behaviors; may be filled before the host (and so the worker) starts.</summary>
    public JobScript Script { get; } = new();

    /// <summary>Enqueues <paramref name="count"/> jobs in one save (so their ids ascend with n) and returns their ids.</summary>
    public Task<long[]> EnqueueAsync(string scenario, int count = 1, Func<int, string?>? key = null, int maxAttempts = 5, string kind = ScriptedJobHandler.TestKind) =>
        WithDbAsync(async db =>
        {
            var jobs = Enumerable.Range(0, count)
                .Select(n => Queue.Enqueue(db, kind, new TestPayload(scenario, n), key?.Invoke(n), maxAttempts: maxAttempts))
                .ToList();
            await db.SaveChangesAsync(); // wakes a slot per job
            return jobs.Select(j => j.Id).ToArray();
        });

    public Task<Job> WaitAsync(long id) => Queue.WaitForCompletionAsync(id, TimeSpan.FromSeconds(30), CancellationToken.None);
}

/// <summary>A migrated database (<see cref="TestDatabase"/>) shared by independent queues (each its own service provider, as separate processes would be).</summary>
public sealed class SharedJobsDatabase : IAsyncDisposable
{
    readonly string folder = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));
    readonly List<ServiceProvider> providers = [];

    SharedJobsDatabase()
    {
        Directory.CreateDirectory(folder);
        TestDatabase.AppSettings(folder); // creates the PostgreSQL database
    }

    public static async Task<SharedJobsDatabase> CreateAsync()
    {
        var database = new SharedJobsDatabase();
        await using var db = database.CreateDb();
        await DatabaseSetup.MigrateAsync(db, () => Task.CompletedTask);
        return database;
    }

    public AdminDbContext CreateDb() => TestDatabase.Open(folder);

    /// <summary>A JobQueue of its own (own WorkerId, own DbContext factory) on this file.</summary>
    public JobQueue CreateQueue(TimeProvider clock, TimeSpan? lease = null)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Jobs:Lease"] = (lease ?? TimeSpan.FromMinutes(5)).ToString(),
        }).Build();
        var provider = new ServiceCollection()
            .AddLogging()
            .AddSingleton(clock)
            .AddSingleton<IDbContextFactory<AdminDbContext>>(new TestDatabase.Factory(folder))
            .AddJobQueue(config)
            .BuildServiceProvider();
        providers.Add(provider);
        return provider.GetRequiredService<JobQueue>();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var provider in providers) await provider.DisposeAsync();
        TestDatabase.ClearSqlitePools();
        TestDatabase.Drop(folder);
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

static class Eventually
{
    /// <summary>Re-checks a database condition until it holds; the timeout is only a safety net.</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            try { await Task.Delay(25, cts.Token); }
            catch (OperationCanceledException) { Assert.Fail($"Timed out waiting until {what}."); }
        }
    }
}
