using System.Diagnostics;
using System.Runtime.InteropServices;
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
/// <para>
/// A PASSIVE checkpoint alone does not keep the log small under steady writes: SQLite starts the log over only when a
/// writer finds every frame of it copied, and a commit during each checkpoint (at a few hundred commits a second, always)
/// leaves frames uncopied, so the next writer appends instead. Under issue 12's benchmark the log grew to 5 GB in 90 s,
/// and appending past the end of the file cost the writers, holding the write lock, a tenth of the machine's CPU in
/// the kernel (new blocks allocated and zeroed; perf). So once the log passes <see cref="RestartAfterPages"/>, a round
/// ends with <see cref="Restart"/>: the little written since its checkpoint copied with this process's writers held at
/// <see cref="SqliteWriteGate"/>, after which the next writer starts the log over and writes into blocks the file
/// already has. <c>journal_size_limit</c> (<see cref="SqlitePragmas"/>) then trims a log a burst made larger than that.
/// </para>
/// <para>
/// The price is a pause of every writer of this process while the restart copies what is left and syncs the log and the
/// database file, so the restart waits for a large log: under issue 12's 64-connection load (about 40 MB of log a second)
/// one every six seconds or so. At 16 MB (a restart a second) the benchmark's p99 to 202 was 105-226 ms, at 128 MB
/// 60-130 ms, at 256 MB 49-63 ms in most runs and 200-254 ms in runs whose syncs were slow. Those syncs wrote out
/// everything the rounds since the last restart had copied into the database file (SQLite syncs it only after a
/// checkpoint that copied the whole log); since 2026-12-02 <see cref="Settle"/> writes that out first, with the writers
/// going on, and the pause measured 25 ms at most instead of 160-250 ms (README).
/// </para>
/// </remarks>
public sealed class SqliteCheckpointer(DatabaseSettings settings, ILogger<SqliteCheckpointer> logger) : BackgroundService
{
    /// <summary>How often what is committed is copied from the log into the database file.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Pages of log (4 KB each) past which a round starts the log over: 256 MB, about six seconds of the heaviest load
    /// measured. A server that ever pauses never gets there: a writer that finds the whole log copied starts it over itself.
    /// </summary>
    public const long RestartAfterPages = 65_536;

    /// <summary>
    /// The longest <see cref="Restart"/> holds this process's writers while it waits for readers still reading the log
    /// (SQLite's busy timeout on its connection; SQLite polls, so a longer wait mostly sleeps): a restart that cannot
    /// have them by then is tried again <see cref="RestartSpacing"/> later.
    /// </summary>
    static readonly TimeSpan ReadersWait = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest <see cref="Restart"/> waits for its turn among this process's writers.</summary>
    static readonly TimeSpan TurnWait = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Least time between two restarts, whether the first one worked or not: a restart that readers kept from starting
    /// the log over was otherwise tried again a second later, and the writers paused every second (seen in the benchmark).
    /// </summary>
    public static readonly TimeSpan RestartSpacing = TimeSpan.FromSeconds(5);

    long lastRestartAt = long.MinValue / 2; // Environment.TickCount64 of the last restart's start

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
                Round();
            }
            catch (Exception e)
            {
                // The next round tries again on a new connection; meanwhile the log only grows.
                logger.LogWarning(e, "SQLite checkpoint failed; trying again in {Interval}", Interval);
                Close();
            }
        }
    }

    /// <summary>
    /// What the background loop runs each second, on the calling thread: a PASSIVE checkpoint, then, when the log has
    /// passed <paramref name="restartAfterPages"/> and the last restart was at least <paramref name="restartSpacing"/>
    /// (<see cref="RestartSpacing"/>) ago, <see cref="Restart"/>. The restart's result when there was one.
    /// </summary>
    public Result Round(long restartAfterPages = RestartAfterPages, TimeSpan? restartSpacing = null)
    {
        var copied = Checkpoint();
        var now = Environment.TickCount64;
        if (copied.LogPages < restartAfterPages || now - lastRestartAt < (long)(restartSpacing ?? RestartSpacing).TotalMilliseconds) return copied;
        lastRestartAt = now;
        return Restart();
    }

    /// <summary>One PASSIVE checkpoint now, on the calling thread: copies what is committed; writers go on meanwhile.</summary>
    public Result Checkpoint() => Run("PRAGMA wal_checkpoint(PASSIVE);", holdWriters: false);

    /// <summary>
    /// Copies the rest of the log with this process's writers held at <see cref="SqliteWriteGate"/> and waits (at most
    /// <see cref="ReadersWait"/>) until no reader reads from the log, so that the next writer starts it over. Run just
    /// after <see cref="Checkpoint"/> and <see cref="Settle"/>, there is little left to copy or sync: the writers wait for that.
    /// Busy when the turn or the readers did not come in time (a round <see cref="RestartSpacing"/> later tries again).
    /// </summary>
    public Result Restart() => Run("PRAGMA wal_checkpoint(RESTART);", holdWriters: true);

    Result Run(string checkpoint, bool holdWriters)
    {
        lock (oneAtATime)
        {
            if (connection is null)
            {
                var opened = new SqliteConnection(settings.ConnectionString);
                opened.Open();
                using var pragmas = opened.CreateCommand();
                pragmas.CommandText = $"PRAGMA busy_timeout={(int)ReadersWait.TotalMilliseconds}; PRAGMA journal_size_limit={SqlitePragmas.LogSizeLimit};";
                pragmas.ExecuteNonQuery();
                connection = opened;
            }
            if (holdWriters) Settle(connection);
            using var turn = holdWriters ? SqliteWriteGate.TryTake(connection, TurnWait) : null;
            if (holdWriters && turn is null) return new Result(Busy: true, 0, 0);
            var started = Stopwatch.GetTimestamp(); // a restart holds the writers from here
            using var command = connection.CreateCommand();
            command.CommandText = checkpoint;
            using var reader = command.ExecuteReader();
            reader.Read();
            var result = new Result(reader.GetInt64(0) != 0, reader.GetInt64(1), reader.GetInt64(2));
            SelfTuneTelemetry.SqliteCheckpointDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("kind", holdWriters ? "restart" : "passive"));
            return result;
        }
    }

    /// <summary>
    /// Before a restart holds the writers: what it would otherwise write to the disk while they wait, written now. Under
    /// steady writes no PASSIVE checkpoint copies the whole log, and SQLite syncs the database file only after one that
    /// does (strace: one sync of the log a round, the file's only at a restart), so the restart's sync of the database file
    /// wrote out every page the rounds since the last restart had copied into it: under issue 12's 64-connection load
    /// 160-250 ms of every writer waiting (README "Benchmarks", 2026-12-02). So: sync, copy what was appended meanwhile
    /// (another PASSIVE checkpoint) and sync that, and the restart is left with the last few milliseconds' frames: 25 ms
    /// at most measured.
    /// </summary>
    /// <remarks>
    /// The sync is <c>syncfs</c> on the database's folder (Linux; elsewhere the restart syncs alone, as before): it writes
    /// out the file system's dirty pages, this file's among them, through a handle on the folder. Not <c>fsync</c> through
    /// a handle of our own on the database file: closing any handle to a file drops every POSIX lock this process holds on
    /// it, SQLite's included, and another process on the file could then take a lock SQLite believes it keeps.
    /// </remarks>
    void Settle(SqliteConnection connection)
    {
        var folder = Path.GetDirectoryName(connection.DataSource);
        if (!OperatingSystem.IsLinux() || string.IsNullOrEmpty(folder)) return;
        SyncFileSystem(folder);
        using (var copy = connection.CreateCommand())
        {
            copy.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            copy.ExecuteNonQuery();
        }
        SyncFileSystem(folder);
    }

    /// <summary>syncfs(2) on the file system holding <paramref name="folder"/>; a failure only leaves the work to the restart.</summary>
    void SyncFileSystem(string folder)
    {
        var fd = Libc.open(folder, Libc.ReadOnly);
        if (fd < 0)
        {
            logger.LogDebug("Could not open {Folder} to sync it (errno {Errno}); the restart syncs alone", folder, Marshal.GetLastPInvokeError());
            return;
        }
        try
        {
            if (Libc.syncfs(fd) != 0) logger.LogDebug("syncfs failed (errno {Errno}); the restart syncs alone", Marshal.GetLastPInvokeError());
        }
        finally
        {
            _ = Libc.close(fd);
        }
    }

    static class Libc
    {
        public const int ReadOnly = 0; // O_RDONLY: opens a folder too (O_DIRECTORY's value differs between architectures)

        [DllImport("libc", SetLastError = true)]
        public static extern int open(string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int syncfs(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
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
