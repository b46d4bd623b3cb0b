using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Tests.Components;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// <see cref="DeliveryService.ListAsync(Guid, DeliveryService.Filter, int, int, CancellationToken, bool)"/> as the Deliveries
/// page reads it: the page, the total the filter matches and, when asked, the event names the filter offers (every event
/// among the org's deliveries, whatever is filtered), read unfiltered as one count per event.
/// </summary>
public sealed class DeliveryListTests : IAsyncLifetime
{
    readonly AdminAppFactory app = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await app.DisposeAsync();

    [Fact]
    public async Task The_total_and_the_event_names_are_the_orgs_whether_or_not_a_filter_narrows_the_page()
    {
        var (orgId, _) = await app.CreateOrgAsync(Plan.Pro);
        var installation = await app.InstallationAsync(orgId);
        var (otherOrg, _) = await app.CreateOrgAsync(Plan.Pro);
        var elsewhere = await app.InstallationAsync(otherOrg);
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        string[] events = ["push", "push", "push", "create", "installation_repositories", "pull_request"];
        for (var i = 0; i < events.Length; i++)
            await app.DeliveryAsync(events[i], installation.InstallationId, receivedAt: start.AddSeconds(i),
                outcome: i == 1 ? DeliveryOutcome.Failed : DeliveryOutcome.Processed);
        await app.DeliveryAsync("star", elsewhere.InstallationId, receivedAt: start); // another org's: neither counted nor offered
        await using var scope = app.Services.CreateAsyncScope();
        var deliveries = scope.ServiceProvider.GetRequiredService<DeliveryService>();
        string[] offered = ["create", "installation_repositories", "pull_request", "push"];

        var all = await deliveries.ListAsync(orgId, new DeliveryService.Filter(), 0, 4, withEvents: true);
        Assert.Equal(6, all.Total);
        Assert.Equal(4, all.Items.Count);
        Assert.Equal("pull_request", all.Items[0].Event); // newest first
        Assert.Equal(offered, all.Events);

        var pushes = await deliveries.ListAsync(orgId, new DeliveryService.Filter(Event: "push"), 0, 25, withEvents: true);
        Assert.Equal(3, pushes.Total);
        Assert.Equal(offered, pushes.Events);

        var failed = await deliveries.ListAsync(orgId, new DeliveryService.Filter(Outcome: DeliveryOutcome.Failed), 0, 25, withEvents: true);
        Assert.Equal(1, failed.Total);
        Assert.Equal(offered, failed.Events);

        Assert.Null((await deliveries.ListAsync(orgId, new DeliveryService.Filter(), 0, 25)).Events); // not asked for
    }
}
