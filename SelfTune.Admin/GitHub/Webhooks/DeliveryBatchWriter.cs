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
            insertDelivery.Transaction = insertJob.Transaction = findConnection.Transaction = dbTransaction;
            var connected = new Dictionary<long, bool>(); // per repository, for this transaction
            var stored = new Written[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var (delivery, job, decision) = batch[i];
                var decided = decision is not null && !await IsConnectedAsync(decision.RepositoryId);
                if (decision is not null) // set either way: a batch retried row by row decides again
                    (delivery.Outcome, delivery.OutcomeMessage) = decided ? (DeliveryOutcome.Processed, decision.Outcome) : (DeliveryOutcome.Queued, null);
                statements.Deliveries.Bind(insertDelivery, delivery);
                if (await insertDelivery.ExecuteNonQueryAsync() != 1) { stored[i] = Written.Duplicate; continue; }
                stored[i] = decided ? Written.Decided : Written.WithJob;
                if (decided || job is null) continue;
                statements.Jobs.Bind(insertJob, job);
                await insertJob.ExecuteNonQueryAsync();
            }
            await transaction.CommitAsync();
            return stored;

            async Task<bool> IsConnectedAsync(long repositoryId)
            {
                if (connected.TryGetValue(repositoryId, out var known)) return known;
                findConnection.Parameters.Clear();
                var parameter = findConnection.CreateParameter();
                parameter.ParameterName = "@repo";
                parameter.Value = repositoryId;
                findConnection.Parameters.Add(parameter);
                return connected[repositoryId] = await findConnection.ExecuteScalarAsync() is not null;
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
    sealed record Statements(RowInsert Deliveries, RowInsert Jobs, string ConnectionOfRepository)
    {
        static readonly ConditionalWeakTable<IModel, Statements> ByModel = new();

        public static Statements For(AdminDbContext db) => ByModel.GetValue(db.Model, model => new Statements(
            RowInsert.For(model.FindEntityType(typeof(WebhookDelivery))!, skip: null, onConflict: nameof(WebhookDelivery.DeliveryId)),
            RowInsert.For(model.FindEntityType(typeof(Job))!, skip: nameof(Job.Id), onConflict: null),
            ConnectionLookup(model.FindEntityType(typeof(GitHubConnection))!)));

        /// <summary>One row (any) of a connection to repository <c>@repo</c>; on the RepoId index.</summary>
        static string ConnectionLookup(IEntityType connections) =>
            $"SELECT 1 FROM {RowInsert.Quote(connections.GetTableName()!)} WHERE {RowInsert.Quote(connections.FindProperty(nameof(GitHubConnection.RepoId))!.GetColumnName())} = @repo LIMIT 1";
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
