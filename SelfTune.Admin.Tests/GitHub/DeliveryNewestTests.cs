using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Tests.Components;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// <see cref="DeliveryService.NewestAsync"/>, which an open Deliveries page reads on each live update: its two reads (the
/// page, then how many came since the newest shown) see the table at different moments, and a delivery stored between
/// them must be counted once, by this update or the next.
/// </summary>
public sealed class DeliveryNewestTests : IAsyncLifetime
{
    readonly Interleaving interleave = new();
    readonly AdminAppFactory app;

    public DeliveryNewestTests() => app = new AdminAppFactory { Interceptors = { interleave } };

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await app.DisposeAsync();

    [Fact]
    public async Task A_delivery_stored_between_the_page_read_and_the_count_is_counted_once()
    {
        var (orgId, _) = await app.CreateOrgAsync(Plan.Pro);
        var installation = await app.InstallationAsync(orgId);
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        for (var i = 0; i < 3; i++) await app.DeliveryAsync("push", installation.InstallationId, receivedAt: start.AddSeconds(i));
        await using var scope = app.Services.CreateAsyncScope();
        var deliveries = scope.ServiceProvider.GetRequiredService<DeliveryService>();
        var shown = await deliveries.ListAsync(orgId, new DeliveryService.Filter(), 0, 25);
        Assert.Equal(3, shown.Total);

        // On the update, right after its first read, a new delivery is stored (as the receiver does at any moment).
        WebhookDelivery? stored = null;
        var first = await interleave.RunAsync(() => deliveries.NewestAsync(orgId, shown, 25),
            afterFirstRead: async () => stored = await app.DeliveryAsync("push", installation.InstallationId, receivedAt: start.AddSeconds(5)));
        Assert.NotNull(stored);
        var second = await deliveries.NewestAsync(orgId, first, 25);

        Assert.Equal(stored.Id, second.Items[0].Id);
        Assert.Equal(4, second.Total); // counting first, then reading, showed it in the first update and counted it in neither
    }

    /// <summary>
    /// Runs <c>afterFirstRead</c> right after the first read that <c>work</c> executes (its own reads only: the flow is
    /// marked, so the app's background reads meanwhile do not count).
    /// </summary>
    sealed class Interleaving : DbCommandInterceptor
    {
        sealed class Pending(Func<Task> then) { public Func<Task>? Then = then; }

        readonly AsyncLocal<Pending?> pending = new();

        public async Task<T> RunAsync<T>(Func<Task<T>> work, Func<Task> afterFirstRead)
        {
            pending.Value = new Pending(afterFirstRead);
            try { return await work(); }
            finally { pending.Value = null; }
        }

        public override async ValueTask<DbDataReader> ReaderExecutedAsync(DbCommand command, CommandExecutedEventData eventData, DbDataReader result,
            CancellationToken cancellationToken = default)
        {
            if (pending.Value is { } marked && Interlocked.Exchange(ref marked.Then, null) is { } then)
            {
                pending.Value = null; // the reads of afterFirstRead itself are not marked
                await then();
            }
            return result;
        }
    }
}
