using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace SelfTune.Admin.Data;

/// <summary>
/// One writer at a time per SQLite file within this process, in order of arrival: a write transaction (and a write
/// statement run outside one) first waits its turn here, then takes SQLite's write lock, which is then always free.
/// </summary>
/// <remarks>
/// <para>
/// Why: SQLite has one write lock per file, and a writer that finds it taken does not queue for it. Its busy handler
/// puts the writer to sleep in growing steps (1, 2, 5, 10 … 100 ms) and tries again, so with the webhook ingest's batch
/// writer, four job slots and the publish path writing together, a 0.4 ms transaction waited tens to hundreds of
/// milliseconds, and whoever woke at the right moment went first (issue 12: p99 to 202 of 400 ms at 64 connections).
/// Here writers queue, first come, first served (the webhook ingest's batch writer excepted: <see cref="PutFirstInLine"/>),
/// and each gets the lock as soon as the one before commits. Readers never wait here: WAL lets them read beside the writer.
/// </para>
/// <para>
/// What takes a turn: every transaction EF begins (Microsoft.Data.Sqlite begins them <c>IMMEDIATE</c>, taking the write
/// lock at once, so a transaction is a write), held until it commits or rolls back; and a command EF runs outside a
/// transaction whose SQL writes (INSERT, UPDATE, DELETE, …), held until it finishes or its reader closes. A turn is
/// per context (one connection) and given back at the latest when EF closes that connection, so a transaction disposed without
/// commit or rollback (which raises no event) cannot keep it. A second transaction on a connection that still holds the
/// turn keeps it instead of waiting for itself.
/// </para>
/// <para>
/// Other processes on the same file are not seen; against them SQLite's busy timeout (<see cref="SqlitePragmas"/>) still
/// applies. Code must not write through a second context while its own transaction is open: that already waited for
/// itself in SQLite (until the busy timeout), and here it would wait for good.
/// </para>
/// </remarks>
public sealed class SqliteWriteGate(ILogger<SqliteWriteGate> logger) : IDbTransactionInterceptor, IDbCommandInterceptor, IDbConnectionInterceptor
{
    /// <summary>The longest a writer waits for its turn (SQLite's own busy timeout, <see cref="SqlitePragmas"/>).</summary>
    static readonly TimeSpan MostWait = TimeSpan.FromSeconds(10);

    /// <summary>The gate of each database file (its full path), shared by every context of this process.</summary>
    static readonly ConcurrentDictionary<string, FileTurns> Gates = new(StringComparer.Ordinal);

    /// <summary>The turn a context (and so its one connection) holds, if any.</summary>
    static readonly ConditionalWeakTable<DbContext, Turn> Turns = new();

    /// <summary>Contexts whose writers go before the others waiting (<see cref="PutFirstInLine"/>).</summary>
    static readonly ConditionalWeakTable<DbContext, object> FirstInLine = new();

    sealed class Turn
    {
        public FileTurns? Gate; // set while held
        public bool ByCommand;  // taken for one write command (given back when it finishes), not a transaction
    }

    /// <summary>
    /// The writes of <paramref name="context"/> go before the other writers waiting, after at most three of those
    /// (<see cref="FileTurns"/>). For the webhook ingest's batch writer (<see cref="GitHub.Webhooks.DeliveryBatchWriter"/>):
    /// every request of a batch waits for its commit, and a batch that queued behind each job slot's transaction (and
    /// the publish path's) made the answer to GitHub wait for all of them (issue 12: p99 at 64 connections).
    /// </summary>
    public static void PutFirstInLine(DbContext context) => FirstInLine.AddOrUpdate(context, FirstInLine);

    /// <summary>
    /// The write turn of <paramref name="connection"/>'s file (open) for a caller outside EF, in line with the other
    /// writers: null when it did not come within <paramref name="most"/>; disposing it gives it back. For
    /// <see cref="SqliteCheckpointer.Restart"/>, which must see no commit of this process while it starts the log over.
    /// </summary>
    public static IDisposable? TryTake(DbConnection connection, TimeSpan most)
    {
        var gate = Gates.GetOrAdd(connection.DataSource, _ => new FileTurns());
        return gate.Wait(first: false, most) ? new HeldTurn(gate) : null;
    }

    sealed class HeldTurn(FileTurns gate) : IDisposable
    {
        int givenBack;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref givenBack, 1) == 0) gate.Release();
        }
    }

    /// <summary>
    /// One file's turns: first come, first served, except that a writer first in line goes before the others waiting
    /// once <see cref="OthersBetween"/> of them have had a turn since the last writer first in line had one.
    /// </summary>
    sealed class FileTurns
    {
        /// <summary>
        /// Turns the other writers get between two of the ingest's: what the job slots get of the write lock while ingest
        /// is busy. Under the 64-connection benchmark (README) one gave drain 104-121 jobs/s and p99 38-44 ms; two 156-176/s
        /// and 41-45 ms; three 197-201/s and 50-61 ms; first come, first served (ingest behind every slot) 284/s and 56 ms.
        /// </summary>
        const int OthersBetween = 3;

        readonly Lock sync = new();
        readonly Queue<(TaskCompletionSource<bool> Waiter, bool First)> firsts = new(), others = new();
        bool held;
        int othersSinceFirst = OthersBetween;

        public bool Wait(bool first, TimeSpan most)
        {
            var waiter = Enqueue(first);
            return waiter is null || waiter.Task.Wait(most) || !GiveUp(waiter);
        }

        public async Task<bool> WaitAsync(bool first, TimeSpan most, CancellationToken ct)
        {
            if (Enqueue(first) is not { } waiter) return true;
            try
            {
                await waiter.Task.WaitAsync(most, ct);
                return true;
            }
            catch (TimeoutException)
            {
                return !GiveUp(waiter);
            }
            catch (OperationCanceledException)
            {
                if (!GiveUp(waiter)) Release(); // given the turn just as the wait was cancelled: pass it on
                throw;
            }
        }

        /// <summary>Null when the turn was free and is now held; else the waiter to wait on.</summary>
        TaskCompletionSource<bool>? Enqueue(bool first)
        {
            lock (sync)
            {
                if (!held)
                {
                    held = true;
                    Count(first);
                    return null;
                }
                var waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                (first ? firsts : others).Enqueue((waiter, first));
                return waiter;
            }
        }

        /// <summary>Stops waiting: true when that worked; false when the turn had been given to the waiter meanwhile (it holds it).</summary>
        bool GiveUp(TaskCompletionSource<bool> waiter)
        {
            lock (sync) return waiter.TrySetCanceled(); // left in its queue; Release skips it
        }

        public void Release()
        {
            lock (sync)
            {
                while (true)
                {
                    var queue = firsts.Count > 0 && (othersSinceFirst >= OthersBetween || others.Count == 0) ? firsts : others;
                    if (!queue.TryDequeue(out var next))
                    {
                        held = false;
                        return;
                    }
                    if (next.Waiter.TrySetResult(true))
                    {
                        Count(next.First);
                        return;
                    }
                }
            }
        }

        void Count(bool first) => othersSinceFirst = first ? 0 : othersSinceFirst + 1;
    }

    // ---- Transactions ----

    public InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        Take(eventData.Context, connection, byCommand: false);
        return result;
    }

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(DbConnection connection, TransactionStartingEventData eventData,
        InterceptionResult<DbTransaction> result, CancellationToken ct = default)
    {
        await TakeAsync(eventData.Context, connection, byCommand: false, ct);
        return result;
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => GiveBack(eventData.Context);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken ct = default)
    {
        GiveBack(eventData.Context);
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => GiveBack(eventData.Context);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken ct = default)
    {
        GiveBack(eventData.Context);
        return Task.CompletedTask;
    }

    // A failed begin holds nothing in SQLite; a failed commit is rolled back when the transaction is disposed.
    public void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => GiveBack(eventData.Context);

    public Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken ct = default)
    {
        GiveBack(eventData.Context);
        return Task.CompletedTask;
    }

    // ---- Write commands outside a transaction ----

    public InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        if (IsLoneWrite(command)) Take(eventData.Context, command.Connection!, byCommand: true);
        return result;
    }

    public async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<DbDataReader> result, CancellationToken ct = default)
    {
        if (IsLoneWrite(command)) await TakeAsync(eventData.Context, command.Connection!, byCommand: true, ct);
        return result;
    }

    public InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (IsLoneWrite(command)) Take(eventData.Context, command.Connection!, byCommand: true);
        return result;
    }

    public async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<int> result, CancellationToken ct = default)
    {
        if (IsLoneWrite(command)) await TakeAsync(eventData.Context, command.Connection!, byCommand: true, ct);
        return result;
    }

    public InterceptionResult<object> ScalarExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<object> result)
    {
        if (IsLoneWrite(command)) Take(eventData.Context, command.Connection!, byCommand: true);
        return result;
    }

    public async ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData,
        InterceptionResult<object> result, CancellationToken ct = default)
    {
        if (IsLoneWrite(command)) await TakeAsync(eventData.Context, command.Connection!, byCommand: true, ct);
        return result;
    }

    // A non-query or scalar write has finished when it returns; a reader's (UPDATE … RETURNING) when the reader closes.
    public int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        GiveBackCommandTurn(eventData.Context);
        return result;
    }

    public ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken ct = default)
    {
        GiveBackCommandTurn(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public object? ScalarExecuted(DbCommand command, CommandExecutedEventData eventData, object? result)
    {
        GiveBackCommandTurn(eventData.Context);
        return result;
    }

    public ValueTask<object?> ScalarExecutedAsync(DbCommand command, CommandExecutedEventData eventData, object? result, CancellationToken ct = default)
    {
        GiveBackCommandTurn(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public InterceptionResult DataReaderClosing(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        GiveBackCommandTurn(eventData.Context);
        return result;
    }

    public ValueTask<InterceptionResult> DataReaderClosingAsync(DbCommand command, DataReaderClosingEventData eventData, InterceptionResult result)
    {
        GiveBackCommandTurn(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public InterceptionResult DataReaderDisposing(DbCommand command, DataReaderDisposingEventData eventData, InterceptionResult result)
    {
        GiveBackCommandTurn(eventData.Context);
        return result;
    }

    public void CommandFailed(DbCommand command, CommandErrorEventData eventData) => GiveBackCommandTurn(eventData.Context);

    public Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken ct = default)
    {
        GiveBackCommandTurn(eventData.Context);
        return Task.CompletedTask;
    }

    public void CommandCanceled(DbCommand command, CommandEndEventData eventData) => GiveBackCommandTurn(eventData.Context);

    public Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken ct = default)
    {
        GiveBackCommandTurn(eventData.Context);
        return Task.CompletedTask;
    }

    // ---- The connection: whatever it still holds is given back when it closes ----

    public InterceptionResult ConnectionClosing(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        GiveBack(eventData.Context);
        return result;
    }

    public ValueTask<InterceptionResult> ConnectionClosingAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        GiveBack(eventData.Context);
        return ValueTask.FromResult(result);
    }

    public InterceptionResult ConnectionDisposing(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        GiveBack(eventData.Context);
        return result;
    }

    public ValueTask<InterceptionResult> ConnectionDisposingAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        GiveBack(eventData.Context);
        return ValueTask.FromResult(result);
    }

    // ---- The turn ----

    /// <summary>A statement that writes, run on its own (inside a transaction the transaction holds the turn).</summary>
    static bool IsLoneWrite(DbCommand command)
    {
        if (command.Transaction is not null || command.Connection is null) return false;
        var sql = command.CommandText.AsSpan().TrimStart();
        return StartsWithWord(sql, "INSERT") || StartsWithWord(sql, "UPDATE") || StartsWithWord(sql, "DELETE")
            || StartsWithWord(sql, "REPLACE") || StartsWithWord(sql, "CREATE") || StartsWithWord(sql, "DROP") || StartsWithWord(sql, "ALTER");

        static bool StartsWithWord(ReadOnlySpan<char> sql, string word) =>
            sql.StartsWith(word, StringComparison.OrdinalIgnoreCase) && (sql.Length == word.Length || !char.IsLetterOrDigit(sql[word.Length]));
    }

    void Take(DbContext? context, DbConnection connection, bool byCommand)
    {
        if (Waiting(context, connection) is not var (turn, gate)) return;
        Held(turn, gate, gate.Wait(FirstInLine.TryGetValue(context!, out _), MostWait), byCommand);
    }

    async Task TakeAsync(DbContext? context, DbConnection connection, bool byCommand, CancellationToken ct)
    {
        if (Waiting(context, connection) is not var (turn, gate)) return;
        Held(turn, gate, await gate.WaitAsync(FirstInLine.TryGetValue(context!, out _), MostWait, ct), byCommand);
    }

    /// <summary>The context's turn and the gate to wait at; null when it holds its turn already (or is no context).</summary>
    static (Turn, FileTurns)? Waiting(DbContext? context, DbConnection connection)
    {
        if (context is null) return null;
        var turn = Turns.GetOrCreateValue(context);
        if (turn.Gate is not null) return null; // held already (a transaction disposed without an event): keep it
        return (turn, Gates.GetOrAdd(connection.DataSource, _ => new FileTurns()));
    }

    void Held(Turn turn, FileTurns gate, bool taken, bool byCommand)
    {
        if (!taken)
        {
            // Only code that writes through a second context inside its own transaction waits this long; going on
            // without a turn leaves it to SQLite's busy timeout, as before the gate, instead of waiting for good.
            logger.LogWarning("Waited {Seconds} s for this process's SQLite write turn; writing without it", MostWait.TotalSeconds);
            return;
        }
        turn.ByCommand = byCommand;
        turn.Gate = gate;
    }

    static void GiveBackCommandTurn(DbContext? context)
    {
        if (context is not null && Turns.TryGetValue(context, out var turn) && turn.ByCommand) GiveBack(turn);
    }

    static void GiveBack(DbContext? context)
    {
        if (context is not null && Turns.TryGetValue(context, out var turn)) GiveBack(turn);
    }

    static void GiveBack(Turn turn)
    {
        // A context is used by one caller at a time (EF's rule), so its turn is never taken and given back at once.
        if (turn.Gate is { } gate)
        {
            turn.Gate = null;
            turn.ByCommand = false;
            gate.Release();
        }
    }
}
