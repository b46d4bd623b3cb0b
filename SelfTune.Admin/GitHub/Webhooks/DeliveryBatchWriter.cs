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
            // Begun through EF, so the SQLite write gate (SqliteWriteGate) gives this transaction its turn.
            await using var transaction = await db.Database.BeginTransactionAsync();
            var dbTransaction = transaction.GetDbTransaction();
            var stored = db.Database.GetDbConnection().CanCreateBatch
                ? await StoreInThreeRoundTripsAsync(batch, dbTransaction)
                : await StoreRowByRowAsync(batch, dbTransaction);
            await transaction.CommitAsync();
            return stored;
        }

        /// <summary>A decided delivery's outcome, or queued (set either way: a batch retried row by row decides again).</summary>
        static bool Decide(Pending item, Func<long, bool> isConnected)
        {
            var (delivery, _, decision) = item;
            var decided = decision is not null && !isConnected(decision.RepositoryId);
            if (decision is not null)
                (delivery.Outcome, delivery.OutcomeMessage) = decided ? (DeliveryOutcome.Processed, decision.Outcome) : (DeliveryOutcome.Queued, null);
            return decided;
        }

        /// <summary>
        /// PostgreSQL (a provider with ADO.NET batches, where every statement is a network round trip): the repositories'
        /// connections in one query, every delivery in one batch, then the jobs of the deliveries stored (not duplicates, not
        /// decided) in one more, however many rows the batch has. Row by row, a batch of eight cost sixteen round trips, and
        /// ingest stayed below one transaction per delivery on one thread.
        /// </summary>
        async Task<Written[]> StoreInThreeRoundTripsAsync(List<Pending> batch, DbTransaction transaction)
        {
            var connection = transaction.Connection!;
            var repositories = batch.Where(p => p.Decision is not null).Select(p => p.Decision!.RepositoryId).Distinct().ToArray();
            var connected = new HashSet<long>();
            if (repositories.Length > 0)
            {
                await using var find = Command(statements.ConnectedRepositories, connection);
                find.Transaction = transaction;
                var parameter = find.CreateParameter();
                parameter.ParameterName = "@repos";
                parameter.Value = repositories;
                find.Parameters.Add(parameter);
                await using var reader = await find.ExecuteReaderAsync();
                while (await reader.ReadAsync()) connected.Add(reader.GetInt64(0));
            }

            var stored = new Written[batch.Count];
            var decided = batch.Select(p => Decide(p, connected.Contains)).ToArray();
            await using (var deliveries = connection.CreateBatch())
            {
                deliveries.Transaction = transaction;
                foreach (var item in batch) deliveries.BatchCommands.Add(statements.Deliveries.Create(deliveries, insertDelivery, item.Delivery));
                await deliveries.ExecuteNonQueryAsync();
                for (var i = 0; i < batch.Count; i++)
                    stored[i] = deliveries.BatchCommands[i].RecordsAffected != 1 ? Written.Duplicate : decided[i] ? Written.Decided : Written.WithJob;
            }
            var jobs = batch.Where((p, i) => stored[i] == Written.WithJob && p.Job is not null).Select(p => p.Job!).ToList();
            if (jobs.Count == 0) return stored;
            await using var insertJobs = connection.CreateBatch();
            insertJobs.Transaction = transaction;
            foreach (var job in jobs) insertJobs.BatchCommands.Add(statements.Jobs.Create(insertJobs, insertJob, job));
            await insertJobs.ExecuteNonQueryAsync();
            return stored;
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
                var decided = Decide(batch[i], repository => connected[repository]);
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
    sealed record Statements(RowInsert Deliveries, RowInsert Jobs, string ConnectionOfRepository, string ConnectedRepositories)
    {
        static readonly ConditionalWeakTable<IModel, Statements> ByModel = new();

        public static Statements For(AdminDbContext db) => ByModel.GetValue(db.Model, model =>
        {
            var connections = model.FindEntityType(typeof(GitHubConnection))!;
            var table = RowInsert.Quote(connections.GetTableName()!);
            var repoId = RowInsert.Quote(connections.FindProperty(nameof(GitHubConnection.RepoId))!.GetColumnName());
            return new Statements(
                RowInsert.For(model.FindEntityType(typeof(WebhookDelivery))!, skip: null, onConflict: nameof(WebhookDelivery.DeliveryId)),
                RowInsert.For(model.FindEntityType(typeof(Job))!, skip: nameof(Job.Id), onConflict: null),
                // One row (any) of a connection to repository @repo; on the RepoId index.
                $"SELECT 1 FROM {table} WHERE {repoId} = @repo LIMIT 1",
                // Which of the repositories @repos (a PostgreSQL array) a connection uses; one seek of the RepoId index each.
                $"SELECT DISTINCT {repoId} FROM {table} WHERE {repoId} = ANY(@repos)");
        });
    }

    static DbCommand Command(string sql, DbConnection connection)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    /// <summary>An INSERT of every mapped column of an entity, its parameters converted by the model's type mappings.</summary>
    sealed class RowInsert(string sql, IReadOnlyList<(IProperty Property, RelationalTypeMapping Mapping)> columns)
    {
        public static RowInsert For(IEntityType entity, string? skip, string? onConflict)
        {
            var columns = entity.GetProperties().Where(p => p.Name != skip && p.PropertyInfo is not null)
                .Select(p => (Property: p, Mapping: (RelationalTypeMapping)p.GetRelationalTypeMapping())).ToList();
            var names = string.Join(", ", columns.Select(c => Quote(c.Property.GetColumnName())));
            var values = string.Join(", ", columns.Select((_, i) => "@p" + i));
            var conflict = onConflict is null ? "" : $" ON CONFLICT ({Quote(entity.FindProperty(onConflict)!.GetColumnName())}) DO NOTHING";
            return new RowInsert($"INSERT INTO {Quote(entity.GetTableName()!)} ({names}) VALUES ({values}){conflict}", columns);
        }

        public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

        public DbCommand Create(DbConnection connection) => Command(sql, connection);

        /// <summary>
        /// This insert of <paramref name="row"/> as a command of <paramref name="batch"/>; its parameters are made by
        /// <paramref name="scratch"/> (the model's type mappings configure parameters of a command) and handed over.
        /// </summary>
        public DbBatchCommand Create(DbBatch batch, DbCommand scratch, object row)
        {
            Bind(scratch, row);
            var parameters = scratch.Parameters.Cast<DbParameter>().ToList();
            scratch.Parameters.Clear();
            var command = batch.CreateBatchCommand();
            command.CommandText = sql;
            foreach (var parameter in parameters) command.Parameters.Add(parameter);
            return command;
        }

        public void Bind(DbCommand command, object row)
        {
            command.Parameters.Clear();
            for (var i = 0; i < columns.Count; i++)
            {
                var (property, mapping) = columns[i];
                command.Parameters.Add(mapping.CreateParameter(command, "@p" + i, property.PropertyInfo!.GetValue(row), property.IsNullable));
            }
        }
    }
}
