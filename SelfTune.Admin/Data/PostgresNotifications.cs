using Npgsql;

namespace SelfTune.Admin.Data;

/// <summary>
/// On PostgreSQL, the one connection per instance that LISTENs for the other instances: a job became runnable (raised by
/// a trigger on "Jobs" inside the enqueueing transaction, so it arrives once the job is committed) wakes the local
/// worker slots; a change published elsewhere reaches the local subscribers of <see cref="PostgresChangeFeed"/>.
/// </summary>
/// <remarks>
/// Notifications are not durable: while the connection is down they are lost. So after every (re)connect the worker
/// slots look for work and the change feed tells its subscribers to re-read; polling (<see cref="JobOptions.PollInterval"/>)
/// remains the safety net for jobs either way.
/// </remarks>
public sealed class PostgresNotifications(DatabaseSettings settings, JobQueue queue, PostgresChangeFeed feed, TimeProvider time,
    ILogger<PostgresNotifications> logger) : BackgroundService
{
    /// <summary>Raised by the "Jobs" trigger (see the PostgreSQL migration JobNotifications) when a job may be claimable.</summary>
    public const string JobsChannel = "selftune_jobs";

    /// <summary>Carries <see cref="Change"/>s between instances (<see cref="PostgresChangeFeed"/>).</summary>
    public const string ChangesChannel = "selftune_changes";

    /// <summary>The listening connection's application_name in pg_stat_activity.</summary>
    public const string ApplicationName = "selftune-listener";

    /// <summary>How long the listening connection may stay silent before a round-trip proves it is still there.</summary>
    static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(10);

    /// <summary>Completes once the first LISTEN is in place (tests wait on it; the app does not need to).</summary>
    public Task Listening => listening.Task;

    readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        // Its own physical connection: a pooled one could be handed back with LISTEN still active, or reset under us.
        var connectionString = new NpgsqlConnectionStringBuilder(settings.ConnectionString) { Pooling = false, ApplicationName = ApplicationName }.ConnectionString;
        var delay = TimeSpan.FromMilliseconds(200);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(stopping);
                connection.Notification += (_, e) => Dispatch(e.Channel, e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {JobsChannel}; LISTEN {ChangesChannel};", connection))
                    await listen.ExecuteNonQueryAsync(stopping);
                delay = TimeSpan.FromMilliseconds(200);
                // What was notified while nobody listened is lost: look for work and let every page re-read.
                queue.Notify(JobQueue.EverySlot);
                feed.Resync();
                listening.TrySetResult();

                while (true)
                {
                    if (await connection.WaitAsync(Heartbeat, stopping)) continue;
                    await using var ping = new NpgsqlCommand("SELECT 1", connection);
                    await ping.ExecuteNonQueryAsync(stopping);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Listening for other instances' notifications failed; reconnecting in {Delay}", delay);
                try { await Task.Delay(delay, time, stopping); }
                catch (OperationCanceledException) { return; }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxReconnectDelay.Ticks));
            }
        }
    }

    void Dispatch(string channel, string payload)
    {
        // One NOTIFY per transaction, however many jobs it stored. Its payload names the instance whose transaction it was
        // (migration JobNotifyNamesInstance): this instance's own jobs woke a slot in-process already (or were claimed by
        // the completing slot), and a second slot sent to look for them found nothing, 1-2 ms of the server's time each,
        // five of them around every publish.
        if (channel == JobsChannel && payload != settings.InstanceName) queue.NotifySpreading();
        else if (channel == ChangesChannel) feed.Receive(payload);
    }
}
