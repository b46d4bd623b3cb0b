using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// SQLite's write path as the app sets it up (<see cref="SqlitePragmas"/>, <see cref="SqliteWriteGate"/>,
/// <see cref="SqliteCheckpointer"/>), on a file of its own whichever provider the suite runs on: these are SQLite's.
/// Without the gate, the second writer below would not queue: it would sleep inside SQLite's busy handler on the test's
/// own thread while the first writer, which only this thread can commit, holds the lock, and fail when the busy timeout ran out.
/// </summary>
public sealed class SqliteWritePathTests : IAsyncLifetime
{
    readonly string folder = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));
    readonly SqliteWriteGate gate = new(NullLogger<SqliteWriteGate>.Instance);

    string ConnectionString => $"Data Source={Path.Combine(folder, "write-path.db")}";

    AdminDbContext Open() => new(new DbContextOptionsBuilder<AdminDbContext>()
        .UseSqlite(ConnectionString)
        .AddInterceptors(new SqlitePragmas(), gate).Options);

    static Org NewOrg(string slug) => new() { Slug = slug, Name = slug, CreatedAt = DateTimeOffset.UtcNow };

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(folder);
        await using var db = Open();
        await DatabaseSetup.MigrateAsync(db, () => Task.CompletedTask);
    }

    public Task DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_second_writer_waits_its_turn_and_writes_once_the_first_transaction_commits()
    {
        await using var first = Open();
        await using var second = Open();
        await using var transaction = await first.Database.BeginTransactionAsync();
        first.Orgs.Add(NewOrg("first"));
        await first.SaveChangesAsync();

        second.Orgs.Add(NewOrg("second"));
        var waiting = second.SaveChangesAsync(); // queues at the gate: the call returns with the save not done
        Assert.False(waiting.IsCompleted);

        await transaction.CommitAsync();
        Assert.Equal(1, await waiting);

        await using var check = Open();
        Assert.Equal(["first", "second"], await check.Orgs.Where(o => o.Slug == "first" || o.Slug == "second").OrderBy(o => o.Slug).Select(o => o.Slug).ToListAsync());
    }

    [Fact]
    public async Task The_ingest_writer_goes_before_other_writers_waiting_and_they_still_get_turns_between_its_own()
    {
        await using var holder = Open();
        await using var slot = Open();
        await using var ingest = Open();
        await using var laterIngest = Open();
        SqliteWriteGate.PutFirstInLine(ingest);
        SqliteWriteGate.PutFirstInLine(laterIngest);

        var held = await holder.Database.BeginTransactionAsync();
        var slotTurn = slot.Database.BeginTransactionAsync();     // waiting first
        var ingestTurn = ingest.Database.BeginTransactionAsync(); // waiting second, first in line
        Assert.False(slotTurn.IsCompleted || ingestTurn.IsCompleted);

        await held.CommitAsync();
        var ingestTransaction = await ingestTurn.WaitAsync(TimeSpan.FromSeconds(5)); // went ahead of the slot (FIFO would wait here for good)
        Assert.False(slotTurn.IsCompleted);

        var laterIngestTurn = laterIngest.Database.BeginTransactionAsync();
        await ingestTransaction.CommitAsync();
        var slotTransaction = await slotTurn.WaitAsync(TimeSpan.FromSeconds(5)); // the slot's turn now, though another first-in-line writer waits
        Assert.False(laterIngestTurn.IsCompleted);

        await slotTransaction.CommitAsync();
        await (await laterIngestTurn).CommitAsync();
        await held.DisposeAsync();
        await ingestTransaction.DisposeAsync();
        await slotTransaction.DisposeAsync();
    }

    [Fact]
    public async Task A_transaction_disposed_without_commit_or_rollback_gives_its_turn_back()
    {
        await using var first = Open();
        await using (var abandoned = await first.Database.BeginTransactionAsync())
        {
            first.Orgs.Add(NewOrg("abandoned"));
            await first.SaveChangesAsync();
        } // disposed: SQLite rolls it back, and EF raises no commit or rollback event for that

        // The first context stays open. Its turn must already be free: the guard is well below the gate's own 10 s
        // limit, after which a writer would go on without its turn and the test could not tell.
        await using var second = Open();
        second.Orgs.Add(NewOrg("after"));
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        Assert.Equal(1, await second.SaveChangesAsync(guard.Token));
        Assert.False(await second.Orgs.AnyAsync(o => o.Slug == "abandoned"));
    }

    [Fact]
    public async Task Commits_leave_the_log_to_the_checkpointer_which_moves_all_of_it_into_the_database_file()
    {
        await using var db = Open();
        await db.Database.OpenConnectionAsync();
        await using (var pragma = db.Database.GetDbConnection().CreateCommand())
        {
            pragma.CommandText = "PRAGMA wal_autocheckpoint";
            Assert.Equal(0L, await pragma.ExecuteScalarAsync()); // no commit checkpoints
        }

        for (var n = 0; n < 20; n++)
        {
            db.Orgs.Add(NewOrg($"logged-{n:00}"));
            await db.SaveChangesAsync();
        }

        var checkpointer = new SqliteCheckpointer(new DatabaseSettings(DatabaseProvider.Sqlite, ConnectionString), NullLogger<SqliteCheckpointer>.Instance);
        try
        {
            var result = checkpointer.Checkpoint();
            Assert.False(result.Busy);
            Assert.True(result.LogPages > 0, "the commits are in the log, not yet in the file");
            Assert.Equal(result.LogPages, result.CheckpointedPages);
        }
        finally
        {
            await checkpointer.StopAsync(CancellationToken.None);
        }
        Assert.Equal(20, await db.Orgs.CountAsync(o => o.Slug.StartsWith("logged-")));
    }

    [Fact]
    public async Task Under_writes_that_never_pause_each_round_starts_the_log_over_instead_of_letting_it_grow()
    {
        // A writer that commits one row after another without a pause, as a busy server's do: every PASSIVE checkpoint
        // finds commits made while it copied, so SQLite alone never starts the log over and it only grows (issue 12's
        // benchmark: 5 GB in 90 s). With the restart, the log a round finds holds only what was written since the last.
        var checkpointer = new SqliteCheckpointer(new DatabaseSettings(DatabaseProvider.Sqlite, ConnectionString), NullLogger<SqliteCheckpointer>.Instance);
        using var stop = new CancellationTokenSource();
        using var committed = new SemaphoreSlim(0);
        var commits = 0;
        var writer = Task.Run(async () =>
        {
            await using var db = Open();
            while (!stop.IsCancellationRequested)
            {
                db.Orgs.Add(NewOrg($"steady-{commits:00000}"));
                await db.SaveChangesAsync();
                db.ChangeTracker.Clear();
                Interlocked.Increment(ref commits);
                committed.Release();
            }
        });
        var rounds = new List<(SqliteCheckpointer.Result Result, int Commits)>();
        try
        {
            for (var round = 0; round < 12; round++)
            {
                var target = Volatile.Read(ref commits) + 200;
                while (Volatile.Read(ref commits) < target) await committed.WaitAsync(TimeSpan.FromSeconds(30));
                var result = await Task.Run(() => checkpointer.Round(restartAfterPages: 1, restartSpacing: TimeSpan.Zero));
                rounds.Add((result, Volatile.Read(ref commits)));
            }
        }
        finally
        {
            await stop.CancelAsync();
            await writer;
            await checkpointer.StopAsync(CancellationToken.None);
        }

        // A commit of one row here adds 2-4 pages to the log; a log that grew would hold every commit since the start.
        var report = string.Join("; ", rounds.Select(r => $"{r.Result.LogPages} pages after {r.Commits} commits{(r.Result.Busy ? " (busy)" : "")}"));
        for (var r = 1; r < rounds.Count; r++)
        {
            var since = rounds[r].Commits - rounds[r - 1].Commits + 2; // a commit may finish between a restart and the count
            Assert.True(rounds[r].Result.LogPages <= 10 * since, $"round {r}: {report}");
        }
        await using var check = Open();
        Assert.Equal(commits, await check.Orgs.CountAsync(o => o.Slug.StartsWith("steady-")));
    }
}
