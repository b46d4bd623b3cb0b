using SelfTune.Admin.Data;

namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// In-process news of webhook deliveries (stored, processed, failed, replayed) for pages that show them live. Deliveries
/// carry no org; a page re-reads its own org's view when told, so events carry just the keys to decide that.
/// </summary>
public sealed class DeliveryNotifier
{
    public event Action<DeliveryChanged>? Changed;

    public void Publish(WebhookDelivery delivery)
    {
        var handlers = Changed;
        if (handlers is null) return;
        var change = new DeliveryChanged(delivery.Id, delivery.DeliveryId, delivery.InstallationId, delivery.RepositoryId, delivery.Outcome);
        // A page's handler must never fail the receiver or the job that told it.
        foreach (var handler in handlers.GetInvocationList().Cast<Action<DeliveryChanged>>())
        {
            try { handler(change); }
            catch (Exception) { }
        }
    }
}

public sealed record DeliveryChanged(Guid Id, string DeliveryId, long? InstallationId, long? RepositoryId, DeliveryOutcome Outcome);
