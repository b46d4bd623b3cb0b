using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace SelfTune.Admin.Data;

/// <summary>
/// Per-connection SQLite settings. With WAL (set once on the file at start-up), <c>synchronous=NORMAL</c> stays safe
/// against an application crash and saves an fsync per commit; <c>busy_timeout</c> lets SQLite itself wait for a
/// writer instead of failing at once, which matters when web requests and queue workers write together (in this process
/// they queue at <see cref="SqliteWriteGate"/> first; the timeout is for other processes on the file);
/// <c>wal_autocheckpoint=0</c> leaves checkpoints to <see cref="SqliteCheckpointer"/>, so no commit waits for one;
/// <c>journal_size_limit</c> trims the log file, when the log starts over, to <see cref="LogSizeLimit"/>.
/// </summary>
public sealed class SqlitePragmas : DbConnectionInterceptor
{
    /// <summary>
    /// The size the log file is trimmed to when it starts over (bytes): twice the size at which
    /// <see cref="SqliteCheckpointer"/> starts it over, so that a busy server writes into blocks the file has instead of
    /// growing it again, and a burst's larger log does not stay on disk.
    /// </summary>
    public const long LogSizeLimit = 2 * SqliteCheckpointer.RestartAfterPages * 4096;

    static readonly string Pragmas = $"PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={LogSizeLimit};";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken ct = default)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = Pragmas;
        await command.ExecuteNonQueryAsync(ct);
    }
}
