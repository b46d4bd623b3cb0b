using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Tests.Components;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// <see cref="DeliveryService"/>'s lists as the Deliveries page reads them. <see cref="DeliveryService.ListAsync(Guid, DeliveryService.Filter, int, int, bool, CancellationToken)"/>:
/// the page, the total the filter matches and, when asked, the event names the filter offers (every event among the
/// org's deliveries, whatever is filtered), read unfiltered as one count per event. <see cref="DeliveryService.NewestAsync"/>,
/// which an open page reads on each live update: its two reads (the page, then how many came since the newest shown)
/// see the table at different moments, and a delivery stored between them must be counted once, by this update or the next.
/// </summary>
public sealed class DeliveryListTests : IAsyncLifetime
{
    readonly Interleaving interleave = new();
    readonly AdminAppFactory app;

    public DeliveryListTests() => app = new AdminAppFactory { Interceptors = { interleave } };

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

    /// <summary>
    /// The page's counts read every delivery the org sees, and a delivery's row carries its webhook body (6-9 KB a push,
    /// kept 30 days): on SQLite they read the index IX_Deliveries_Counts alone (with 50,000 real push bodies, a scan of the
    /// table made the Deliveries page 200-280 ms). A column the counts test that the index lacks sends them to the table.
    /// On the SQLite migrations whatever the provider of the run (PostgreSQL picks its plan from statistics).
    /// </summary>
    [Fact]
    public async Task The_counts_read_an_index_not_the_rows_that_carry_the_webhook_bodies()
    {
        var folder = Path.Combine(Path.GetTempPath(), "selftune-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            await using var db = new AdminDbContext(new DbContextOptionsBuilder<AdminDbContext>()
                .UseSqlite($"Data Source={Path.Combine(folder, "plans.db")};Pooling=false").Options);
            await DatabaseSetup.MigrateAsync(db, () => Task.CompletedTask);
            var orgId = Guid.NewGuid();
            var connection = db.Database.GetDbConnection();
            await connection.OpenAsync();
            var counts = new (string Name, IQueryable Query)[]
            {
                ("per event (the total and the event filter's names)", DeliveryService.CountsPerEvent(db, orgId)),
                ("of one event and outcome (a filter's total)", DeliveryService.VisibleTo(db, orgId)
                    .Where(d => d.Event == "push" && d.Outcome == DeliveryOutcome.Failed).Select(d => 1)),
            };
            foreach (var (name, query) in counts)
            {
                await using var command = SqlitePlan.Command(connection, query);
                var plan = await SqlitePlan.ExplainAsync(command);
                var deliveries = plan.Where(step => step.Contains(" d ") || step.EndsWith(" d", StringComparison.Ordinal)).ToList();
                Assert.True(deliveries.Count > 0 && deliveries.All(step => step.Contains("COVERING INDEX IX_Deliveries_Counts")),
                    $"The count {name} reads the deliveries otherwise than by the index alone:\n{string.Join('\n', plan)}");
            }
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } // unpooled: the file is closed with the context
        }
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
