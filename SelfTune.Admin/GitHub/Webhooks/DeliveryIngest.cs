namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// The one way a delivery is stored, for a delivery from GitHub (<see cref="Apis.GitHubWebhookApi"/>) and for a replay
/// (<see cref="DeliveryService.ReplayAsync"/>): the row and, for an event the app handles (<see cref="WebhookEvents"/>), its
/// <c>github.webhook</c> job, in one transaction, deduplicated by GitHub's delivery id. An unhandled event keeps its
/// headers and outcome but not its payload.
/// </summary>
public sealed class DeliveryIngest(JobQueue queue, IChangeFeed changes, TimeProvider clock)
{
    /// <summary>
    /// A delivery to store. <paramref name="Payload"/> is read only when the event is handled (an ignored one may be
    /// megabytes nobody will read). <paramref name="ReplayOrgId"/> is the replaying org, null for a delivery from GitHub.
    /// </summary>
    public sealed record Incoming(
        string DeliveryId, string Event, string? Action, long? InstallationId, long? RepositoryId, string? RepositoryFullName,
        Func<string> Payload, Guid? ReplayOrgId = null);

    public enum Result { Queued, Ignored, Duplicate }

    /// <summary>The stored row (null for a duplicate) and what became of it.</summary>
    public sealed record Stored(Result Result, WebhookDelivery? Delivery);

    /// <summary>
    /// Stores <paramref name="incoming"/> with <paramref name="db"/> (saving it), or returns <see cref="Result.Duplicate"/>
    /// when a delivery with its id is already stored, including one that raced in at the same time.
    /// </summary>
    public async Task<Stored> StoreAsync(AdminDbContext db, Incoming incoming, CancellationToken ct)
    {
        if (await db.Deliveries.AnyAsync(d => d.DeliveryId == incoming.DeliveryId, ct))
            return new Stored(Result.Duplicate, null);

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
        db.Deliveries.Add(delivery);
        if (handled) queue.Enqueue(db, PublishJobs.Webhook, new PublishJobs.WebhookPayload(delivery.Id, incoming.ReplayOrgId));
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (e.IsUniqueViolation())
        {
            db.ChangeTracker.Clear(); // the same delivery raced in: keep nothing of this one
            return new Stored(Result.Duplicate, null);
        }
        if (handled) queue.Notify();
        changes.Publish(Change.OfDelivery(delivery));
        return new Stored(handled ? Result.Queued : Result.Ignored, delivery);
    }
}
