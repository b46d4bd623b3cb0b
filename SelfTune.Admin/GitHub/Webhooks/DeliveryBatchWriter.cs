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

    /// <summary>A row to store; <see cref="Job"/> is null for a delivery the app does not act on.</summary>
    sealed record Pending(WebhookDelivery Delivery, Job? Job)
    {
        public readonly TaskCompletionSource<bool> Stored = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Stores <paramref name="delivery"/> and <paramref name="job"/> (if any) in the next batch. True once committed; false
    /// when a delivery with the same id is stored already (then neither row is written).
    /// </summary>
    public Task<bool> StoreAsync(WebhookDelivery delivery, Job? job)
    {
        var item = new Pending(delivery, job);
        if (!pending.Writer.TryWrite(item)) throw new ObjectDisposedException(nameof(DeliveryBatchWriter));
        _ = loop.Value;
        return item.Stored.Task;
    }

    public async ValueTask DisposeAsync()
    {
        pending.Writer.TryComplete();
        if (loop.IsValueCreated) await loop.Value;
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
                var stored = await CommitAsync(batch);
                for (var i = 0; i < batch.Count; i++) batch[i].Stored.TrySetResult(stored[i]);
                return;
            }
            catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6 && attempt < BusyRetries) // SQLITE_BUSY, SQLITE_LOCKED
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 25) * attempt));
            }
        }
    }

    /// <summary>One transaction for the whole batch; which rows were new (the others' delivery ids were taken).</summary>
    async Task<bool[]> CommitAsync(List<Pending> batch)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var statements = Statements.For(db);
        await db.Database.OpenConnectionAsync();
        await using var transaction = await db.Database.BeginTransactionAsync();
        var connection = db.Database.GetDbConnection();
        await using var insertDelivery = statements.Deliveries.Create(connection, transaction.GetDbTransaction());
        await using var insertJob = statements.Jobs.Create(connection, transaction.GetDbTransaction());
        var stored = new bool[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            statements.Deliveries.Bind(insertDelivery, batch[i].Delivery);
            stored[i] = await insertDelivery.ExecuteNonQueryAsync() == 1;
            if (!stored[i] || batch[i].Job is not { } job) continue;
            statements.Jobs.Bind(insertJob, job);
            await insertJob.ExecuteNonQueryAsync();
        }
        await transaction.CommitAsync();
        return stored;
    }

    /// <summary>The two INSERTs, built once per model (SQLite and PostgreSQL have different models).</summary>
    sealed record Statements(RowInsert Deliveries, RowInsert Jobs)
    {
        static readonly ConditionalWeakTable<IModel, Statements> ByModel = new();

        public static Statements For(AdminDbContext db) => ByModel.GetValue(db.Model, model => new Statements(
            RowInsert.For(model.FindEntityType(typeof(WebhookDelivery))!, skip: null, onConflict: nameof(WebhookDelivery.DeliveryId)),
            RowInsert.For(model.FindEntityType(typeof(Job))!, skip: nameof(Job.Id), onConflict: null)));
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

        static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

        public DbCommand Create(DbConnection connection, DbTransaction transaction)
        {
            var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
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
