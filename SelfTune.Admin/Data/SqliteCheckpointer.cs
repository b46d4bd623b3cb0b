using Microsoft.Data.Sqlite;

namespace SelfTune.Admin.Data;

/// <summary>
/// Moves the SQLite write-ahead log into the database file in the background, once a second, so that no writer does it.
/// </summary>
/// <remarks>
/// <para>
/// Why: by default SQLite checkpoints inside the commit that takes the log past 1,000 pages, in the committing
/// connection, and a checkpoint writes those pages into the database file and waits for the disk (fsync). The writer
/// that happens to cross the line still holds its turn at <see cref="SqliteWriteGate"/> meanwhile, so every writer
/// queued behind it waits for the disk too: issue 12's benchmark measured 4,418 webhook deliveries a second with a p99 of
/// 4 ms without those checkpoints, against about 2,500 a second with a p99 of 20-27 ms with them.
/// </para>
/// <para>
/// So the app's connections turn automatic checkpoints off (<see cref="SqlitePragmas"/>) and this service checkpoints
/// on its own connection, outside the gate. A PASSIVE checkpoint takes no write lock: writers append to the log while
/// it copies what is committed. Durability is unchanged: a commit is in the log either way (<c>synchronous=NORMAL</c>:
/// safe against a crash of the process, as before). When SQLite last closes the file, it checkpoints the rest itself.
/// Several processes on one file each run one of these; SQLite lets one checkpoint at a time and the other returns.
/// </para>
/// </remarks>
public sealed class SqliteCheckpointer(DatabaseSettings settings, ILogger<SqliteCheckpointer> logger) : BackgroundService
{
    /// <summary>How often the log is checkpointed: at a few thousand commits a second it stays a few megabytes.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>What one checkpoint did: pages in the log, and pages of it now in the database file.</summary>
    public sealed record Result(bool Busy, long LogPages, long CheckpointedPages);

    SqliteConnection? connection;
    readonly Lock oneAtATime = new(); // the loop and a caller of Checkpoint share the connection

    // A thread of its own: Microsoft.Data.Sqlite runs every call synchronously, and a checkpoint of a busy second's log
    // takes hundreds of milliseconds of disk writes. On the thread pool it held one of a 2-core machine's few threads
    // that long, and requests queued behind it (p99 to 202 of 250 ms at 64 connections).
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Loop(stoppingToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    void Loop(CancellationToken stopping)
    {
        while (!stopping.WaitHandle.WaitOne(Interval))
        {
            try
            {
                Checkpoint();
            }
            catch (Exception e)
            {
                // The next round tries again on a new connection; meanwhile the log only grows.
                logger.LogWarning(e, "SQLite checkpoint failed; trying again in {Interval}", Interval);
                Close();
            }
        }
    }

    /// <summary>One PASSIVE checkpoint now (also what the background loop runs), on the calling thread.</summary>
    public Result Checkpoint()
    {
        lock (oneAtATime)
        {
            if (connection is null)
            {
                var opened = new SqliteConnection(settings.ConnectionString);
                opened.Open();
                connection = opened;
            }
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            using var reader = command.ExecuteReader();
            reader.Read();
            return new Result(reader.GetInt64(0) != 0, reader.GetInt64(1), reader.GetInt64(2));
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        Close();
    }

    void Close()
    {
        lock (oneAtATime)
        {
            connection?.Dispose();
            connection = null;
        }
    }
}
