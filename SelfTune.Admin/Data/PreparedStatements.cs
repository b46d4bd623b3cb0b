using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace SelfTune.Admin.Data;

/// <summary>
/// PostgreSQL: the statements the app runs most (a query tagged <c>.TagWith(PreparedStatements.Tag)</c>) are prepared on the
/// connection that runs them, so the server plans each once per connection instead of at every run. Npgsql keeps a
/// statement prepared on its physical connection across pool returns, and preparing a statement it already holds costs
/// no round trip.
/// </summary>
/// <remarks>
/// Why: with the server on the same two cores as the app, planning was most of the cost of the hottest statements
/// (pg_stat_statements over the ingest benchmark: the job claim planned in 0.36 ms and ran in 0.20 ms, 18,530 times).
/// Why by tag and not Npgsql's automatic preparation (<c>Max Auto Prepare</c>) for everything: with that on, the benchmark's
/// one-transaction floor, which re-binds two commands on one connection, failed with a duplicate key (a command ran with
/// values it no longer had), and Npgsql's tracker lists several such auto-preparation bugs. Explicit preparation of a few
/// known statements is the long-standing path. On SQLite the tag is only a comment (SQLite compiles every statement anyway).
/// A migration that changes what a prepared statement returns (a column added to Jobs, whose claim returns every column)
/// fails that statement once on each connection of an instance still running the old build ("cached plan must not change
/// result type"); Npgsql marks it invalid on that error (npgsql/npgsql#4702) and prepares it again on the next run, and the
/// job queue's next look claims as before.
/// </remarks>
public sealed class PreparedStatements : DbCommandInterceptor
{
    /// <summary>The query tag that asks for preparation; EF writes it as the statement's first line (<c>-- prepared</c>).</summary>
    public const string Tag = "prepared";

    const string Comment = "-- " + Tag;

    /// <summary>Whether the statement's first line is the tag's comment (ended by the platform's new line).</summary>
    static bool Wanted(DbCommand command) =>
        command.CommandText is var text && text.StartsWith(Comment, StringComparison.Ordinal) && text.Length > Comment.Length && text[Comment.Length] is '\r' or '\n';

    public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        if (Wanted(command)) command.Prepare();
        return result;
    }

    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<DbDataReader> result, CancellationToken ct = default)
    {
        if (Wanted(command)) await command.PrepareAsync(ct);
        return result;
    }

    public override InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (Wanted(command)) command.Prepare();
        return result;
    }

    public override async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<int> result, CancellationToken ct = default)
    {
        if (Wanted(command)) await command.PrepareAsync(ct);
        return result;
    }
}
