namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// The one way a delivery is stored, for a delivery from GitHub (<see cref="Apis.GitHubWebhookApi"/>) and for a replay
/// (<see cref="DeliveryService.ReplayAsync"/>): the row and, for an event the app handles (<see cref="WebhookEvents"/>), its
/// <c>github.webhook</c> job, in one transaction (shared with the other requests of the moment, <see cref="DeliveryBatchWriter"/>),
/// deduplicated by GitHub's delivery id. An unhandled event keeps its
/// headers and outcome but not its payload.
/// </summary>
/// <remarks>
/// <para>
/// A push for a repository no connection uses is decided in the storing transaction, without a job
/// (<see cref="Incoming.OutcomeWithoutConnections"/>): stored as processed with the outcome its job would have written.
/// Most pushes an installation sends are of that kind, and a job costs three more writes on the one SQLite writer.
/// </para>
/// <para>
/// Why no push is missed by it: the look-up for a connection runs inside the transaction that stores the delivery (on
/// SQLite that transaction holds the write lock from its start; on PostgreSQL the look-up sees every connection
/// committed before it). A connection committed before it is seen, and the push goes to a job as before. A connection
/// committed after it was created after GitHub had moved the ref (GitHub sends the push only then), so the first sync
/// that creating a connection runs, and the reconciliation sweep, read a head that already holds the pushed commit. The
/// job path had the same boundary, only later: its look-up ran when the job ran. A replay always goes through a job
/// (it acts for one org).
/// </para>
/// </remarks>
public sealed class DeliveryIngest(DeliveryBatchWriter writer, JobQueue queue, IChangeFeed changes, TimeProvider clock)
{
    /// <summary>
    /// A delivery to store. <paramref name="Payload"/> is read only when the event is handled (an ignored one may be
    /// megabytes nobody will read). <paramref name="ReplayOrgId"/> is the replaying org, null for a delivery from GitHub.
    /// </summary>
    public sealed record Incoming(
        string DeliveryId, string Event, string? Action, long? InstallationId, long? RepositoryId, string? RepositoryFullName,
        Func<string> Payload, Guid? ReplayOrgId = null, string? OutcomeWithoutConnections = null);

    public enum Result { Queued, Ignored, Duplicate }

    /// <summary>The stored row (null for a duplicate) and what became of it.</summary>
    public sealed record Stored(Result Result, WebhookDelivery? Delivery);

    /// <summary>
    /// Stores <paramref name="incoming"/> (in the writer's next batch; answered once that batch is committed), or returns
    /// <see cref="Result.Duplicate"/> when a delivery with its id is already stored, including one that raced in at the same time.
    /// </summary>
    public async Task<Stored> StoreAsync(Incoming incoming, CancellationToken ct)
    {
        var handled = WebhookEvents.IsHandled(incoming.Event);
        var delivery = new WebhookDelivery
        {
            DeliveryId = incoming.DeliveryId, Event = incoming.Event, Action = incoming.Action, InstallationId = incoming.InstallationId,
            RepositoryId = incoming.RepositoryId, RepositoryFullName = incoming.RepositoryFullName, ReceivedAt = clock.GetUtcNow(),
            Payload = handled ? incoming.Payload() : "",
            Outcome = handled ? DeliveryOutcome.Queued : DeliveryOutcome.Ignored,
            OutcomeMessage = handled ? null : WebhookEvents.NotHandledMessage(incoming.Event),
            ReplayedByOrgId = incoming.ReplayOrgId,
        };
        var job = handled ? queue.NewJob(PublishJobs.Webhook, new PublishJobs.WebhookPayload(delivery.Id, incoming.ReplayOrgId)) : null;
        var decision = handled && incoming is { ReplayOrgId: null, RepositoryId: { } repositoryId, OutcomeWithoutConnections: { } outcome }
            ? new DeliveryBatchWriter.IfUnconnected(repositoryId, outcome) : null;
        // Not cancellable once handed over: the row may be committed with its batch whether or not the sender still waits.
        var written = await writer.StoreAsync(delivery, job, decision).WaitAsync(ct);
        if (written == DeliveryBatchWriter.Written.Duplicate) return new Stored(Result.Duplicate, null);
        if (written == DeliveryBatchWriter.Written.WithJob && job is not null) queue.Notify(); // an ignored event stores no job: no slot to wake
        changes.Publish(Change.OfDelivery(delivery));
        return new Stored(handled ? Result.Queued : Result.Ignored, delivery);
    }
}
