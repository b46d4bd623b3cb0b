using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;

namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// Tells the <see cref="IChangeFeed"/> that a webhook delivery was stored, processed, failed or replayed. Deliveries
/// carry no org, so this finds the orgs they concern — the org of the installation, and the orgs connected to the
/// repository — and publishes one <see cref="ChangeKind.Delivery"/> change per org (without a connection, for the
/// installation's org) and per connection of the repository. That lookup runs in the background: <see cref="Publish"/>
/// returns at once and never fails the receiver or job that calls it.
/// </summary>
public sealed class DeliveryNotifier(IChangeFeed feed, IDbContextFactory<AdminDbContext> dbFactory, ILogger<DeliveryNotifier> log)
{
    public void Publish(WebhookDelivery delivery)
    {
        var (id, deliveryId, installationId, repositoryId) = (delivery.Id, delivery.DeliveryId, delivery.InstallationId, delivery.RepositoryId);
        if (installationId is null && repositoryId is null) return;
        _ = Task.Run(() => PublishAsync(id, deliveryId, installationId, repositoryId));
    }

    async Task PublishAsync(Guid id, string deliveryId, long? installationId, long? repositoryId)
    {
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync();
            var orgs = installationId is { } i
                ? await db.Installations.Where(x => x.InstallationId == i).Select(x => x.OrgId).Distinct().ToListAsync()
                : [];
            var connections = repositoryId is { } r
                ? await db.Connections.Where(c => c.RepoId == r).Select(c => new { c.OrgId, c.Id }).ToListAsync()
                : [];
            foreach (var org in orgs) feed.Publish(new Change(org, ChangeKind.Delivery, id, null, deliveryId));
            foreach (var c in connections) feed.Publish(new Change(c.OrgId, ChangeKind.Delivery, id, c.Id, deliveryId));
        }
        catch (Exception e)
        {
            log.LogWarning(e, "Could not tell pages of delivery {DeliveryId}.", deliveryId);
        }
    }
}
