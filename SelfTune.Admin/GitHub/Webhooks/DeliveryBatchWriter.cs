using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// Group commit for <see cref="DeliveryIngest"/>: every request hands its delivery row (and job row) to one writer, which
/// stores whatever has gathered meanwhile in one transaction and then completes each request's task. A request therefore
/// answers only after its row is durable, and a burst costs one commit (one fsync) per batch instead of one per request.
/// </summary>
/// <remarks>
/// <para>
/// No change tracking: rows go in with plain ADO.NET commands on the context's connection, their column names and
/// parameter conversions (times as ticks on SQLite, enums as text) taken from the EF model, so the SQL is the same on
/// SQLite and PostgreSQL. A delivery id already stored, in an earlier batch or earlier in the same one, is skipped by
/// <c>ON CONFLICT ("DeliveryId") DO NOTHING</c> and reported as a duplicate, with no job for it.
/// </para>
/// <para>
/// A row handed over with <see cref="IfUnconnected"/> is decided in the batch's transaction: when no connection uses its
/// repository it is stored with that outcome and without its job (<see cref="DeliveryIngest"/> says why that is safe).
/// </para>
/// <para>
/// A batch that fails for a reason other than a busy SQLite file is retried one row per transaction, so one bad row fails
/// only its own request.
/// </para>
/// </remarks>
public sealed class DeliveryBatchWriter : IAsyncDisposable
{
    /// <summary>Most rows in one transaction: bounds the time a worker waits for the SQLite write lock behind a batch.</summary>
    const int MaxBatch = 256;

    const int BusyRetries = 5;

    readonly IDbContextFactory<AdminDbContext> dbFactory;
    readonly ILogger<DeliveryBatchWriter> logger;
    readonly Channel<Pending> pending = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    readonly Lazy<Task> loop;

    public DeliveryBatchWriter(IDbContextFactory<AdminDbContext> dbFactory, ILogger<DeliveryBatchWriter> logger)
    {
        this.dbFactory = dbFactory;
        this.logger = logger;
        loop = new Lazy<Task>(() => Task.Run(WriteBatchesAsync));
    }

    /// <summary>The outcome a delivery is stored with, instead of its job, when no connection uses <paramref name="RepositoryId"/>.</summary>
    public sealed record IfUnconnected(long RepositoryId, string Outcome);

    /// <summary>What became of a row handed to <see cref="StoreAsync"/>.</summary>
    public enum Written
    {
        /// <summary>A delivery with the same id was stored already: nothing was written.</summary>
        Duplicate,
        /// <summary>Stored with its job (if it had one).</summary>
        WithJob,
        /// <summary>Stored with the outcome of its <see cref="IfUnconnected"/>, without its job.</summary>
        Decided,
    }

    /// <summary>A row to store; <see cref="Job"/> is null for a delivery the app does not act on.</summary>
    sealed record Pending(WebhookDelivery Delivery, Job? Job, IfUnconnected? Decision)
    {
        public readonly TaskCompletionSource<Written> Stored = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Stores <paramref name="delivery"/> and <paramref name="job"/> (if any) in the next batch; completes once committed.
    /// With <paramref name="decision"/>, a delivery for a repository no connection uses is stored with its outcome and
    /// without the job. A delivery id stored already writes nothing (<see cref="Written.Duplicate"/>).
    /// </summary>
    public Task<Written> StoreAsync(WebhookDelivery delivery, Job? job, IfUnconnected? decision = null)
    {
        var item = new Pending(delivery, job, decision);
        if (!pending.Writer.TryWrite(item)) throw new ObjectDisposedException(nameof(DeliveryBatchWriter));
        _ = loop.Value;
        return item.Stored.Task;
    }

    public async ValueTask DisposeAsync()
    {
        pending.Writer.TryComplete();
        if (loop.IsValueCreated) await loop.Value;
        if (session is not null) await session.DisposeAsync();
    }

    async Task WriteBatchesAsync()
    {
        var batch = new List<Pending>(MaxBatch);
        while (await pending.Reader.WaitToReadAsync())
        {
            while (batch.Count < MaxBatch && pending.Reader.TryRead(out var item)) batch.Add(item);
            try
            {
                await CommitWithBusyRetryAsync(batch);
            }
            catch (Exception e) when (batch.Count > 1)
            {
                logger.LogWarning(e, "Storing a batch of {Count} webhook deliveries failed; storing them one by one", batch.Count);
                foreach (var item in batch) await CommitAloneAsync(item);
            }
            catch (Exception e)
            {
                batch[0].Stored.TrySetException(e);
            }
            batch.Clear();
        }
    }

    async Task CommitAloneAsync(Pending item)
    {
        try
        {
            await CommitWithBusyRetryAsync([item]);
        }
        catch (Exception e)
        {
            item.Stored.TrySetException(e);
        }
    }

    async Task CommitWithBusyRetryAsync(List<Pending> batch)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var written = await CommitAsync(batch);
                for (var i = 0; i < batch.Count; i++) batch[i].Stored.TrySetResult(written[i]);
                return;
            }
            catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6 && attempt < BusyRetries) // SQLITE_BUSY, SQLITE_LOCKED
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 25) * attempt));
            }
        }
    }

    /// <summary>One transaction for the whole batch; what became of each row.</summary>
    async Task<Written[]> CommitAsync(List<Pending> batch)
    {
        var session = this.session ??= await Session.OpenAsync(dbFactory);
        try
        {
            return await session.CommitAsync(batch);
        }
        catch
        {
            // Whatever failed (a busy file, a dropped PostgreSQL connection), the next try starts on a fresh connection.
            this.session = null;
            await session.DisposeAsync();
            throw;
        }
    }

    Session? session; // used by the one writer loop only

    /// <summary>
    /// The writer's open connection and its statements, kept from batch to batch: a batch then costs its rows and its
    /// commit, not a new context, a connection from the pool and the parsing of three statements (SQLite keeps a
    /// command's compiled statement while its text stays the same).
    /// </summary>
    sealed class Session : IAsyncDisposable
    {
        readonly AdminDbContext db;
        readonly Statements statements;
        readonly DbCommand insertDelivery, insertJob, findConnection;

        Session(AdminDbContext db)
        {
            this.db = db;
            SqliteWriteGate.PutFirstInLine(db); // requests wait on this writer's commits: it goes before the job slots
            statements = Statements.For(db);
            var connection = db.Database.GetDbConnection();
            insertDelivery = statements.Deliveries.Create(connection);
            insertJob = statements.Jobs.Create(connection);
            findConnection = Command(statements.ConnectionOfRepository, connection);
        }

        public static async Task<Session> OpenAsync(IDbContextFactory<AdminDbContext> dbFactory)
        {
            var db = await dbFactory.CreateDbContextAsync();
            try
            {
                await db.Database.OpenConnectionAsync();
                return new Session(db);
            }
            catch
            {
                await db.DisposeAsync();
                throw;
            }
        }

        public async Task<Written[]> CommitAsync(List<Pending> batch)
        {
            if (db.Database.GetDbConnection().CanCreateBatch) return await StoreInOneRoundTripAsync(batch);
            // Begun through EF, so the SQLite write gate (SqliteWriteGate) gives this transaction its turn.
            await using var transaction = await db.Database.BeginTransactionAsync();
            var stored = await StoreRowByRowAsync(batch, transaction.GetDbTransaction());
            await transaction.CommitAsync();
            return stored;
        }

        /// <summary>
        /// A row with a decision: its delivery's outcome as stored, the decision's when <paramref name="decided"/>, else queued
        /// (set either way: a batch retried row by row decides again).
        /// </summary>
        static void RecordDecision(Pending item, bool decided)
        {
            if (item.Decision is { } decision)
                (item.Delivery.Outcome, item.Delivery.OutcomeMessage) = decided ? (DeliveryOutcome.Processed, decision.Outcome) : (DeliveryOutcome.Queued, null);
        }

        /// <summary>
        /// PostgreSQL (a provider with ADO.NET batches, where every statement is a network round trip): one statement per
        /// row (<see cref="Statements.StoreRow"/>: the look-up for a connection, the delivery, its job), the whole batch
        /// sent at once without an explicit transaction. PostgreSQL runs the statements of one batch (up to its single
        /// Sync) as one implicit transaction, commits it before it answers the batch's end, and rolls it all back when
        /// any statement fails. So a batch costs one round trip, its commit included. It cost four before (the look-up
        /// with BEGIN, the deliveries, the jobs, COMMIT): with the server on the same two cores each round trip waits for
        /// its process to be scheduled, and ingest stayed at a tenth of the bare endpoint.
        /// </summary>
        async Task<Written[]> StoreInOneRoundTripAsync(List<Pending> batch)
        {
            var connection = db.Database.GetDbConnection();
            await using var rows = connection.CreateBatch();
            foreach (var item in batch) rows.BatchCommands.Add(statements.StoreRow(rows, insertDelivery, item));
            // Prepared: the statement's plan is made once per form on this connection and kept (Npgsql keeps a statement
            // prepared on its connection and prepares it again for nothing), not planned again for every row.
            await rows.PrepareAsync();
            var written = new Written[batch.Count];
            var reader = await rows.ExecuteReaderAsync();
            await using (reader)
            {
                for (var i = 0; i < batch.Count; i++)
                {
                    if ((i > 0 && !await reader.NextResultAsync()) || !await reader.ReadAsync())
                        throw new InvalidOperationException($"The batch of {batch.Count} deliveries answered {i} rows.");
                    var (decided, stored) = (reader.GetBoolean(0), reader.GetBoolean(1));
                    written[i] = !stored ? Written.Duplicate : decided ? Written.Decided : Written.WithJob;
                    RecordDecision(batch[i], decided);
                }
            }
            // Closed: the reader has read to the batch's end, which PostgreSQL answers only after the commit (or its error,
            // thrown here): no request learns its row was stored before it is.
            return written;
        }

        /// <summary>SQLite (in-process: a statement costs no round trip): one statement per row, the kept commands re-bound.</summary>
        async Task<Written[]> StoreRowByRowAsync(List<Pending> batch, DbTransaction transaction)
        {
            insertDelivery.Transaction = insertJob.Transaction = findConnection.Transaction = transaction;
            var connected = new Dictionary<long, bool>(); // per repository, for this transaction
            var stored = new Written[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var (delivery, job, decision) = batch[i];
                if (decision is not null && !connected.ContainsKey(decision.RepositoryId))
                    connected[decision.RepositoryId] = await IsConnectedAsync(decision.RepositoryId);
                var decided = decision is not null && !connected[decision.RepositoryId];
                RecordDecision(batch[i], decided);
                statements.Deliveries.Bind(insertDelivery, delivery);
                if (await insertDelivery.ExecuteNonQueryAsync() != 1) { stored[i] = Written.Duplicate; continue; }
                stored[i] = decided ? Written.Decided : Written.WithJob;
                if (decided || job is null) continue;
                statements.Jobs.Bind(insertJob, job);
                await insertJob.ExecuteNonQueryAsync();
            }
            return stored;

            async Task<bool> IsConnectedAsync(long repositoryId)
            {
                findConnection.Parameters.Clear();
                var parameter = findConnection.CreateParameter();
                parameter.ParameterName = "@repo";
                parameter.Value = repositoryId;
                findConnection.Parameters.Add(parameter);
                return await findConnection.ExecuteScalarAsync() is not null;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await insertDelivery.DisposeAsync();
            await insertJob.DisposeAsync();
            await findConnection.DisposeAsync();
            await db.DisposeAsync();
        }
    }

    /// <summary>The statements, built once per model (SQLite and PostgreSQL have different models).</summary>
    sealed class Statements(RowInsert deliveries, RowInsert jobs, string connectionOfRepository, IProperty repoId, IProperty outcome,
        IProperty outcomeMessage, string[] storeRow)
    {
        static readonly ConditionalWeakTable<IModel, Statements> ByModel = new();

        public RowInsert Deliveries => deliveries;
        public RowInsert Jobs => jobs;

        /// <summary>One row (any) of a connection to repository @repo; on the RepoId index.</summary>
        public string ConnectionOfRepository => connectionOfRepository;

        public static Statements For(AdminDbContext db) => ByModel.GetValue(db.Model, model =>
        {
            var connections = model.FindEntityType(typeof(GitHubConnection))!;
            var deliveryType = model.FindEntityType(typeof(WebhookDelivery))!;
            var repoId = connections.FindProperty(nameof(GitHubConnection.RepoId))!;
            var outcome = deliveryType.FindProperty(nameof(WebhookDelivery.Outcome))!;
            var outcomeMessage = deliveryType.FindProperty(nameof(WebhookDelivery.OutcomeMessage))!;
            var deliveries = RowInsert.For(deliveryType, skip: null, onConflict: nameof(WebhookDelivery.DeliveryId));
            var jobs = RowInsert.For(model.FindEntityType(typeof(Job))!, skip: nameof(Job.Id), onConflict: null);
            var connectionOfRepository = $"SELECT 1 FROM {RowInsert.Quote(connections.GetTableName()!)} WHERE {RowInsert.Quote(repoId.GetColumnName())} = @repo";

            // One statement per row for PostgreSQL, in four forms (with or without a decision, with or without a job):
            // "decided" is whether the delivery is decided at ingest (its repository has no connection); the delivery is
            // inserted with the decision's outcome then, or skipped as a duplicate; its job follows only a delivery stored
            // and not decided. Answers (decided, stored). The CTEs see one snapshot, and the job's reads the delivery's RETURNING.
            string StoreRow(bool decision, bool job)
            {
                var values = deliveries.Values("@p");
                if (decision)
                {
                    values[deliveries.IndexOf(outcome)] = """CASE WHEN d."decided" THEN @decidedOutcome ELSE @queuedOutcome END""";
                    values[deliveries.IndexOf(outcomeMessage)] = """CASE WHEN d."decided" THEN @decidedMessage END""";
                }
                var decided = decision ? $"NOT EXISTS ({connectionOfRepository})" : "false";
                var insertJob = job ? $""", j AS ({jobs.InsertSelect(jobs.Values("@j"), """s, d WHERE NOT d."decided" """)} RETURNING 1)""" : "";
                return $"""
                    WITH d AS (SELECT {decided} AS "decided"),
                    s AS ({deliveries.InsertSelect(values, "d")} RETURNING 1){insertJob}
                    SELECT d."decided", EXISTS (SELECT 1 FROM s) FROM d
                    """;
            }
            return new Statements(deliveries, jobs, connectionOfRepository + " LIMIT 1", repoId, outcome, outcomeMessage,
                [StoreRow(false, false), StoreRow(false, true), StoreRow(true, false), StoreRow(true, true)]);
        });

        /// <summary>
        /// <paramref name="item"/>'s statement for <paramref name="batch"/> (see <see cref="For"/>); its parameters are made by
        /// <paramref name="scratch"/> (the model's type mappings configure parameters of a command) and handed over.
        /// </summary>
        public DbBatchCommand StoreRow(DbBatch batch, DbCommand scratch, Pending item)
        {
            var (delivery, job, decision) = item;
            scratch.Parameters.Clear();
            deliveries.AddParameters(scratch, delivery, "@p");
            if (job is not null) jobs.AddParameters(scratch, job, "@j");
            if (decision is not null)
            {
                AddParameter(scratch, repoId, "@repo", decision.RepositoryId);
                AddParameter(scratch, outcome, "@decidedOutcome", DeliveryOutcome.Processed);
                AddParameter(scratch, outcome, "@queuedOutcome", DeliveryOutcome.Queued);
                AddParameter(scratch, outcomeMessage, "@decidedMessage", decision.Outcome);
            }
            var command = batch.CreateBatchCommand();
            command.CommandText = storeRow[(decision is null ? 0 : 2) + (job is null ? 0 : 1)];
            var parameters = scratch.Parameters.Cast<DbParameter>().ToList();
            scratch.Parameters.Clear();
            foreach (var parameter in parameters) command.Parameters.Add(parameter);
            return command;
        }

        static void AddParameter(DbCommand command, IProperty property, string name, object? value) =>
            command.Parameters.Add(((RelationalTypeMapping)property.GetRelationalTypeMapping()).CreateParameter(command, name, value, property.IsNullable));
    }

    static DbCommand Command(string sql, DbConnection connection)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    /// <summary>An INSERT of every mapped column of an entity, its parameters converted by the model's type mappings.</summary>
    sealed class RowInsert(string table, string names, string conflict, IReadOnlyList<(IProperty Property, RelationalTypeMapping Mapping)> columns)
    {
        public static RowInsert For(IEntityType entity, string? skip, string? onConflict)
        {
            var columns = entity.GetProperties().Where(p => p.Name != skip && p.PropertyInfo is not null)
                .Select(p => (Property: p, Mapping: (RelationalTypeMapping)p.GetRelationalTypeMapping())).ToList();
            var names = string.Join(", ", columns.Select(c => Quote(c.Property.GetColumnName())));
            var conflict = onConflict is null ? "" : $" ON CONFLICT ({Quote(entity.FindProperty(onConflict)!.GetColumnName())}) DO NOTHING";
            return new RowInsert(Quote(entity.GetTableName()!), names, conflict, columns);
        }

        public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

        /// <summary>The parameter names of the row's columns, in column order: <paramref name="prefix"/> and the column's index.</summary>
        public string[] Values(string prefix) => columns.Select((_, i) => prefix + i).ToArray();

        public int IndexOf(IProperty property) => columns.Select(c => c.Property).ToList().IndexOf(property);

        /// <summary>The INSERT with <see cref="Values"/> "@p" (bound by <see cref="Bind"/>).</summary>
        public string Sql => $"INSERT INTO {table} ({names}) VALUES ({string.Join(", ", Values("@p"))}){conflict}";

        /// <summary>The INSERT of one row whose <paramref name="values"/> (one per column) are selected from <paramref name="from"/>.</summary>
        public string InsertSelect(string[] values, string from) => $"INSERT INTO {table} ({names}) SELECT {string.Join(", ", values)} FROM {from}{conflict}";

        public DbCommand Create(DbConnection connection) => Command(Sql, connection);

        /// <summary>Binds <paramref name="command"/> (of <see cref="Sql"/>) to <paramref name="row"/>.</summary>
        public void Bind(DbCommand command, object row)
        {
            command.Parameters.Clear();
            AddParameters(command, row, "@p");
        }

        /// <summary>Adds a parameter per column of <paramref name="row"/>, named as <see cref="Values"/> names them.</summary>
        public void AddParameters(DbCommand command, object row, string prefix)
        {
            for (var i = 0; i < columns.Count; i++)
            {
                var (property, mapping) = columns[i];
                command.Parameters.Add(mapping.CreateParameter(command, prefix + i, property.PropertyInfo!.GetValue(row), property.IsNullable));
            }
        }
    }
}
