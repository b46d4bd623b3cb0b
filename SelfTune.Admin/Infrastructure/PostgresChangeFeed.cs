using System.Threading.Channels;
using Npgsql;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// The change feed when several instances share a PostgreSQL database: a change is delivered to this instance's
/// subscribers at once (as <see cref="InProcessChangeFeed"/> does) and sent to the others with <c>pg_notify</c>, whose
/// <see cref="PostgresNotifications"/> hand it to theirs. Only the ids travel (a page re-reads what it shows).
/// </summary>
/// <remarks>
/// NOTIFY is not durable: a change sent while an instance's listening connection is down never reaches it. After each
/// reconnect <see cref="Resync"/> gives every subscriber one change per org and kind with no ids ("something may have
/// changed"), so pages re-read. Sending happens in the background, in order; when the database cannot be reached the
/// changes wait in a bounded buffer (the oldest are dropped past it: the others' reconnect re-sync covers them). Changes
/// that gather while one statement is sent go together in the next (<see cref="MostPerStatement"/>).
/// </remarks>
public sealed class PostgresChangeFeed : IChangeFeed, IAsyncDisposable
{
    const int BufferedChanges = 10_000;
    static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    readonly InProcessChangeFeed local;
    readonly DatabaseSettings settings;
    readonly ILogger<PostgresChangeFeed> logger;
    readonly string origin = Guid.NewGuid().ToString("N"); // this instance: its own notifications come back to it
    readonly Channel<Change> outgoing = Channel.CreateBounded<Change>(
        new BoundedChannelOptions(BufferedChanges) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    readonly CancellationTokenSource stopping = new();
    readonly Task sending;
    readonly Lock gate = new();
    (Guid OrgId, ChangeKind[] Kinds, Action<Change> Handler)[] subscribers = [];

    public PostgresChangeFeed(DatabaseSettings settings, ILogger<PostgresChangeFeed> logger, ILogger<InProcessChangeFeed> localLogger)
    {
        this.settings = settings;
        this.logger = logger;
        local = new InProcessChangeFeed(localLogger);
        sending = Task.Run(SendAsync);
    }

    public void Publish(Change change)
    {
        local.Publish(change);
        outgoing.Writer.TryWrite(change);
    }

    public IDisposable Subscribe(Guid orgId, IReadOnlyCollection<ChangeKind> kinds, Action<Change> handler)
    {
        var entry = (orgId, kinds.ToArray(), handler);
        lock (gate) subscribers = [.. subscribers, entry];
        var subscription = local.Subscribe(orgId, kinds, handler);
        return new Unsubscribe(() =>
        {
            subscription.Dispose();
            lock (gate) subscribers = subscribers.Where(s => s != entry).ToArray();
        });
    }

    /// <summary>A notification from <see cref="PostgresNotifications"/>: another instance's change, for local subscribers.</summary>
    public void Receive(string payload)
    {
        Message? message;
        try { message = JsonSerializer.Deserialize<Message>(payload, JsonSerializerOptions.Web); }
        catch (JsonException e)
        {
            logger.LogWarning(e, "Ignored a change notification that is not one");
            return;
        }
        if (message is null || message.Origin == origin) return; // ours was delivered locally when published
        local.Publish(message.Change);
    }

    /// <summary>After notifications may have been missed: every subscriber re-reads, through a change with no ids.</summary>
    public void Resync()
    {
        foreach (var (orgId, kinds, handler) in Volatile.Read(ref subscribers))
            foreach (var kind in kinds)
            {
                try { handler(new Change(orgId, kind)); /* Change.IsResync */ }
                catch (Exception e) { logger.LogWarning(e, "A subscriber to {Kind} changes failed on re-sync.", kind); }
            }
    }

    /// <summary>Most changes sent in one statement (one transaction, one round trip).</summary>
    const int MostPerStatement = 256;

    async Task SendAsync()
    {
        var reader = outgoing.Reader;
        var pending = new List<string>(MostPerStatement); // payloads read but not yet sent (kept across a failed send)
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (pending.Count == 0) pending.Add(Payload(await reader.ReadAsync(stopping.Token)));
                await using var connection = new NpgsqlConnection(settings.ConnectionString);
                await connection.OpenAsync(stopping.Token);
                // Whatever has gathered meanwhile goes in the same statement: one notification per change, as before (an
                // instance of an older version reads them), but one transaction and one round trip for all of them. One
                // statement per change cost a commit on the server and a wake-up of every listening connection each,
                // thousands a second under the webhook ingest.
                for (TopUp(); pending.Count > 0; TopUp())
                {
                    await using var notify = new NpgsqlCommand("SELECT pg_notify(@channel, payload) FROM unnest(@payloads) AS payload", connection);
                    notify.Parameters.AddWithValue("channel", PostgresNotifications.ChangesChannel);
                    notify.Parameters.AddWithValue("payloads", pending.ToArray());
                    await notify.ExecuteNonQueryAsync(stopping.Token);
                    pending.Clear();
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (ChannelClosedException)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Sending a change to the other instances failed; trying again");
                try { await Task.Delay(RetryDelay, stopping.Token); }
                catch (OperationCanceledException) { return; }
            }
        }

        void TopUp()
        {
            while (pending.Count < MostPerStatement && reader.TryRead(out var next)) pending.Add(Payload(next));
        }
    }

    string Payload(Change change) => JsonSerializer.Serialize(new Message(origin, change), JsonSerializerOptions.Web);

    int disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return; // a test host can be disposed twice
        outgoing.Writer.TryComplete();
        await stopping.CancelAsync();
        await sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        stopping.Dispose();
    }

    sealed record Message(string Origin, Change Change);

    sealed class Unsubscribe(Action dispose) : IDisposable
    {
        int disposed;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0) dispose();
        }
    }
}
