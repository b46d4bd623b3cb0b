using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Bunit;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Components.Pages.Deliveries;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Components;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 13: deliveries GitHub failed to hand over (the app was down) are found through GitHub's deliveries API and
/// redelivered at the app's request, once, across restarts and instances. The app runs on a real port (GitHub's
/// webhook URL), so "down" is a refused connection; the fake GitHub records every attempt as GitHub does.
/// </summary>
public sealed class DeliveryRecoveryTests : IAsyncLifetime
{
    readonly string dataPath = Path.Combine(Path.GetTempPath(), "selftune-tests", "recovery-" + Guid.NewGuid().ToString("N"));
    readonly List<AdminAppFactory> apps = [];
    FakeGitHub gh = null!;

    public async Task InitializeAsync()
    {
        gh = await FakeGitHub.StartAsync();
        gh.SetupUrl = new Uri("http://localhost/settings/github");
    }

    public async Task DisposeAsync()
    {
        foreach (var app in apps) await app.DisposeAsync();
        await gh.DisposeAsync();
        TestDatabase.Drop(dataPath);
        TestDatabase.ClearSqlitePools();
        try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    sealed record Running(AdminAppFactory App, HttpClient Api, Uri Address)
    {
        public DeliveryRecoveryService Recovery => App.Services.GetRequiredService<DeliveryRecoveryService>();
    }

    /// <summary>
    /// An instance on the shared data folder. <paramref name="port"/>: GitHub's webhook URL points at it (a real port);
    /// null: an in-memory instance. <paramref name="scheduled"/>: its recovery scans at start-up (else tests call RunAsync).
    /// </summary>
    Running Start(int? port, bool scheduled)
    {
        var app = new AdminAppFactory(dataPath);
        foreach (var (k, v) in GitHubHarness.Settings(gh)) app.Settings[k] = v;
        app.Settings["GitHub:TrustApiKeyBinding"] = "true"; // no signed-in browser for GitHub's callback on a real port
        app.Settings["GitHub:DeliveryRecovery:Enabled"] = scheduled ? "true" : "false";
        app.Settings["GitHub:DeliveryRecovery:Interval"] = "01:00:00";
        if (port is { } p) app.UseKestrel(p);
        apps.Add(app);
        if (port is null) return new Running(app, app.CreateClient(app.DevelopmentKey), new Uri("http://localhost/"));

        _ = app.Services; // starts the host
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()
            .Replace("[::]", "127.0.0.1"));
        var api = new HttpClient { BaseAddress = address };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", app.DevelopmentKey);
        gh.WebhookUrl = new Uri(address, "/api/v1/github/webhook");
        return new Running(app, api, address);
    }

    /// <summary>A loopback port nobody listens on: GitHub's connection is refused there.</summary>
    static Uri RefusingUrl()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}/api/v1/github/webhook");
    }

    /// <summary>An installation bound to acme through the API, a repository with a skill on main and its connection.</summary>
    async Task<(FakeInstallation Installation, FakeRepo Repo, Guid Connection)> ConnectAsync(HttpClient api, string name)
    {
        var installation = gh.AddInstallation("gh-" + name);
        var repo = gh.AddRepo(installation, installation.AccountLogin, name);
        gh.PushCommit(repo, "main", GitHubHarness.Skill(name));
        await GitHubHarness.BindByApiKeyAsync(gh, api, installation);
        var entry = await api.PostAsJsonAsync("/api/v1/registry", new { name, description = "test" });
        Assert.Equal(HttpStatusCode.Created, entry.StatusCode);
        var entryId = (await entry.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        var connection = await api.PostAsJsonAsync("/api/v1/github/connections",
            new { entry_id = entryId, installation_id = installation.Id, repo_full_name = repo.FullName });
        Assert.True(connection.StatusCode == HttpStatusCode.Created, await connection.Content.ReadAsStringAsync());
        return (installation, repo, Guid.Parse((await connection.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>()));
    }

    /// <summary>Waits for every job the app has queued so far, and for the ones those queued (the webhook job queues the publish).</summary>
    static async Task WaitForJobsAsync(AdminAppFactory app)
    {
        var queue = app.Services.GetRequiredService<JobQueue>();
        while (true)
        {
            var open = await app.WithDbAsync(db => db.Jobs.AsNoTracking()
                .Where(j => j.State == JobState.Pending || j.State == JobState.Running).Select(j => j.Id).ToListAsync());
            if (open.Count == 0) return;
            foreach (var id in open) await queue.WaitForCompletionAsync(id, TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public async Task A_push_GitHub_sent_while_the_app_was_down_is_redelivered_after_a_restart_and_published_once()
    {
        var first = Start(port: 0, scheduled: true);
        var port = first.Address.Port;
        var (installation, repo, connection) = await ConnectAsync(first.Api, "downtime");
        await WaitForJobsAsync(first.App);

        // The app goes down; GitHub's push finds nothing listening at the webhook URL.
        first.Api.Dispose();
        await first.App.DisposeAsync();
        apps.Remove(first.App);
        var sha = gh.PushCommit(repo, "main", GitHubHarness.Skill("downtime", extra: "while the app was down"));
        var failed = await gh.SendHookAsync("push", gh.Payloads.Push(repo, "refs/heads/main", after: sha));
        Assert.Equal((0, "failed to connect to host"), (failed.StatusCode, failed.Status));

        // Back on the same address: the start-up scan asks GitHub to redeliver it, and GitHub hands it over.
        var second = Start(port, scheduled: true);
        var redelivered = await gh.WaitForHookDeliveryAsync(d => d.Guid == failed.Guid && d.Redelivery);
        Assert.Equal(202, redelivered.StatusCode);
        await WaitForJobsAsync(second.App);

        var (versions, attempts, recovery) = await second.App.WithDbAsync(async db => (
            await db.Versions.AsNoTracking().Where(v => v.SourceRef == sha).ToListAsync(),
            await db.Attempts.AsNoTracking().Where(a => a.DeliveryId == failed.Guid).ToListAsync(),
            await db.DeliveryRecoveries.AsNoTracking().SingleAsync(r => r.DeliveryId == failed.Guid)));
        var version = Assert.Single(versions);
        Assert.Equal(PublishService.PrereleasePrefix + sha[..7], version.Version);
        Assert.Equal((AttemptStatus.Published, connection), (Assert.Single(attempts).Status, attempts[0].ConnectionId));
        Assert.Equal((failed.Id, "push", (string?)null), (recovery.HookDeliveryId, recovery.Event, recovery.Error));

        // A later scan finds it stored: GitHub is not asked again, and nothing is published twice.
        var again = await second.Recovery.RunAsync(CancellationToken.None);
        Assert.Equal((0, 0), (again.Missing, again.Requested));
        Assert.Single(gh.HookDeliveries, d => d.Guid == failed.Guid && d.Redelivery);
        Assert.Equal(1, gh.CountRequests("/app/hook/deliveries/", "POST"));

        // The deliveries API marks it recovered.
        var list = (await second.Api.GetFromJsonAsync<JsonObject>("/api/v1/github/deliveries"))!["deliveries"]!.AsArray();
        var listed = list.Single(d => d!["delivery_id"]!.GetValue<string>() == failed.Guid)!;
        Assert.True(listed["recovered"]!.GetValue<bool>());
        Assert.NotNull(listed["recovered_at"]);
        var one = (await second.Api.GetFromJsonAsync<JsonObject>($"/api/v1/github/deliveries/{listed["id"]}"))!;
        Assert.True(one["recovered"]!.GetValue<bool>());
        Assert.Equal(installation.Id, one["installation_id"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_stored_delivery_is_never_redelivered_and_two_instances_scanning_at_once_ask_GitHub_once()
    {
        var a = Start(port: 0, scheduled: false);
        var b = Start(port: null, scheduled: false); // a second instance on the same database
        var (_, repo, _) = await ConnectAsync(a.Api, "twice");
        var webhookUrl = gh.WebhookUrl!;

        var stored = await gh.SendHookAsync("push", gh.Payloads.Push(repo, "refs/heads/main"));
        Assert.Equal(202, stored.StatusCode);
        gh.WebhookUrl = RefusingUrl();
        var lost = await gh.SendHookAsync("push", gh.Payloads.Push(repo, "refs/heads/main"));
        Assert.Equal(0, lost.StatusCode);
        // GitHub's attempt failed, yet the app has the delivery (e.g. it arrived again by another way): it is not asked for.
        var payload = gh.Payloads.Push(repo, "refs/heads/main");
        var failedButStored = await gh.SendHookAsync("push", payload);
        Assert.Equal(0, failedButStored.StatusCode);
        using (var again = gh.CreateWebhookRequest(webhookUrl, "push", payload, failedButStored.Guid))
            Assert.Equal(HttpStatusCode.Accepted, (await a.Api.SendAsync(again)).StatusCode);
        gh.WebhookUrl = webhookUrl;
        await WaitForJobsAsync(a.App);

        var scans = await Task.WhenAll(Task.Run(() => a.Recovery.RunAsync(CancellationToken.None)), Task.Run(() => b.Recovery.RunAsync(CancellationToken.None)));

        Assert.Equal(1, scans.Sum(s => s.Requested));
        Assert.Equal(1, gh.CountRequests("/app/hook/deliveries/", "POST"));
        await gh.WaitForHookDeliveryAsync(d => d.Guid == lost.Guid && d.Redelivery && d.Succeeded);
        Assert.Equal([stored.Guid], gh.HookDeliveries.Where(d => d.Guid == stored.Guid).Select(d => d.Guid)); // sent once, never again
        Assert.DoesNotContain(gh.HookDeliveries, d => d.Guid == failedButStored.Guid && d.Redelivery);
        Assert.Equal([lost.Guid], await a.App.WithDbAsync(db => db.DeliveryRecoveries.Select(r => r.DeliveryId).ToListAsync()));

        // The next scans of either instance ask for nothing.
        Assert.Equal(0, (await b.Recovery.RunAsync(CancellationToken.None)).Requested);
        Assert.Equal(0, (await a.Recovery.RunAsync(CancellationToken.None)).Requested);
        Assert.Equal(1, gh.CountRequests("/app/hook/deliveries/", "POST"));
    }

    [Fact]
    public async Task A_redelivery_GitHub_refuses_is_recorded_with_its_reason_and_not_asked_for_again()
    {
        var app = Start(port: 0, scheduled: false);
        var (_, repo, _) = await ConnectAsync(app.Api, "refused");
        var webhookUrl = gh.WebhookUrl;
        gh.WebhookUrl = RefusingUrl();
        var lost = await gh.SendHookAsync("push", gh.Payloads.Push(repo, "refs/heads/main"));
        gh.WebhookUrl = webhookUrl;
        gh.RefuseRedeliveriesWith = 422;

        var scan = await app.Recovery.RunAsync(CancellationToken.None);

        Assert.Equal((1, 0, 1), (scan.Missing, scan.Requested, scan.Refused));
        var recovery = await app.App.WithDbAsync(db => db.DeliveryRecoveries.AsNoTracking().SingleAsync(r => r.DeliveryId == lost.Guid));
        Assert.StartsWith("GitHub refused to redeliver it: GitHub answered 422", recovery.Error);
        var again = await app.Recovery.RunAsync(CancellationToken.None);
        Assert.Equal((0, 0, 0), (again.Missing, again.Requested, again.Refused));
        Assert.Equal(1, gh.CountRequests("/app/hook/deliveries/", "POST"));
        Assert.DoesNotContain(gh.HookDeliveries, d => d.Guid == lost.Guid && d.Redelivery);
    }

    [Fact]
    public async Task A_rate_limited_redelivery_waits_as_GitHub_asks_and_then_goes_through()
    {
        var app = Start(port: 0, scheduled: false);
        var (_, repo, _) = await ConnectAsync(app.Api, "limited");
        var webhookUrl = gh.WebhookUrl;
        gh.WebhookUrl = RefusingUrl();
        var lost = await gh.SendHookAsync("push", gh.Payloads.Push(repo, "refs/heads/main"));
        gh.WebhookUrl = webhookUrl;
        var limit = gh.InjectFault(Fault.SecondaryRateLimit("/app/hook/deliveries/", retryAfterSeconds: 1).ForMethod("POST"));

        var scan = await app.Recovery.RunAsync(CancellationToken.None);

        Assert.Equal((1, 0), (scan.Requested, limit.Remaining));
        Assert.Equal(2, gh.CountRequests("/app/hook/deliveries/", "POST")); // refused once, then accepted
        Assert.Equal(202, (await gh.WaitForHookDeliveryAsync(d => d.Guid == lost.Guid && d.Redelivery)).StatusCode);
    }

    [Fact]
    public async Task The_scan_reads_every_page_of_GitHubs_deliveries_by_cursor_and_stops_at_the_window()
    {
        var app = Start(port: 0, scheduled: false);
        var (_, repo, _) = await ConnectAsync(app.Api, "paged");
        var webhookUrl = gh.WebhookUrl;
        gh.WebhookUrl = RefusingUrl();
        var lost = new List<FakeHookDelivery>();
        for (var i = 0; i < 3; i++) lost.Add(await gh.SendHookAsync("push", gh.Payloads.Push(repo, "refs/heads/main")));
        gh.WebhookUrl = webhookUrl;
        for (var i = 0; i < 205; i++) await gh.SendHookAsync("ping", """{"zen":"Design for failure."}""");

        var scan = await app.Recovery.RunAsync(CancellationToken.None);

        Assert.Equal((208, 3, 3), (scan.Listed, scan.Missing, scan.Requested));
        Assert.Equal(3, gh.CountRequests("/app/hook/deliveries?", "GET")); // 100 + 100 + 8, the last two by GitHub's cursor
        Assert.Equal(2, gh.CountRequests("cursor=v1_", "GET"));
        foreach (var d in lost) await gh.WaitForHookDeliveryAsync(r => r.Guid == d.Guid && r.Redelivery && r.Succeeded);
    }

    [Fact]
    public async Task Retention_removes_recovery_records_after_30_days()
    {
        var app = Start(port: null, scheduled: false);
        DeliveryRecovery Recovery(TimeSpan age) => new()
        {
            DeliveryId = Guid.NewGuid().ToString(), HookDeliveryId = 1, Event = "push",
            DeliveredAt = DateTimeOffset.UtcNow - age, RequestedAt = DateTimeOffset.UtcNow - age,
        };
        var (old, recent) = (Recovery(TimeSpan.FromDays(31)), Recovery(TimeSpan.FromDays(29)));
        await app.App.WithDbAsync(db => { db.DeliveryRecoveries.AddRange(old, recent); return db.SaveChangesAsync(); });
        var retention = new RetentionService(app.App.Services.GetRequiredService<IDbContextFactory<AdminDbContext>>(), TimeProvider.System,
            app.App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<RetentionOptions>>(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<RetentionService>.Instance);

        await retention.PruneAsync(CancellationToken.None);

        Assert.Equal([recent.DeliveryId], await app.App.WithDbAsync(db => db.DeliveryRecoveries.Select(r => r.DeliveryId).ToListAsync()));
    }
}

/// <summary>The Deliveries pages mark a delivery that a recovery brought back, and count them for the last 3 days.</summary>
public sealed class DeliveryRecoveryPageTests(GitHubHarness h) : PageTestContext(h.App), IClassFixture<GitHubHarness>
{

    /// <summary>An org with three deliveries: one a recovery brought back, one plain, one whose recovery GitHub refused.</summary>
    async Task<(Guid OrgId, WebhookDelivery Recovered, WebhookDelivery Plain, WebhookDelivery Refused)> SeedAsync()
    {
        var (orgId, _) = await App.CreateOrgAsync(Plan.Pro);
        var installation = await App.InstallationAsync(orgId);
        var plain = await App.DeliveryAsync("push", installation.InstallationId, receivedAt: DateTimeOffset.UtcNow.AddMinutes(-2));
        var recovered = await App.DeliveryAsync("push", installation.InstallationId, receivedAt: DateTimeOffset.UtcNow.AddMinutes(-1));
        var refused = await App.DeliveryAsync("push", installation.InstallationId, receivedAt: DateTimeOffset.UtcNow.AddMinutes(-3));
        await App.WithDbAsync(async db =>
        {
            db.DeliveryRecoveries.Add(new DeliveryRecovery { DeliveryId = recovered.DeliveryId, HookDeliveryId = 1, Event = "push",
                DeliveredAt = DateTimeOffset.UtcNow.AddHours(-5), RequestedAt = DateTimeOffset.UtcNow.AddMinutes(-1) });
            // GitHub refused this one: it did not come back through the recovery.
            db.DeliveryRecoveries.Add(new DeliveryRecovery { DeliveryId = refused.DeliveryId, HookDeliveryId = 2, Event = "push",
                DeliveredAt = DateTimeOffset.UtcNow.AddHours(-5), RequestedAt = DateTimeOffset.UtcNow.AddMinutes(-4), Error = "GitHub refused to redeliver it" });
            return await db.SaveChangesAsync();
        });
        return (orgId, recovered, plain, refused);
    }

    [Fact]
    public async Task The_list_marks_the_recovered_delivery_and_counts_the_last_3_days()
    {
        var (orgId, recovered, plain, refused) = await SeedAsync();

        SignInAs(orgId, MemberRole.Viewer);
        var list = RenderPage<Deliveries>();
        list.WaitForAssertion(() => Assert.Equal(3, list.FindAll("[data-testid=delivery-link]").Count));
        var rows = list.FindAll("[data-testid=deliveries] tbody tr");
        Assert.Equal([recovered.DeliveryId, plain.DeliveryId, refused.DeliveryId], rows.Select(r => r.QuerySelector("[data-testid=delivery-link]")!.TextContent).ToList());
        Assert.Equal([true, false, false], rows.Select(r => r.QuerySelector("[data-testid=recovered]") is not null).ToList());
        // The count is WebhookStatus's, loaded apart from the list: wait for it.
        list.WaitForAssertion(() => Assert.Equal("Recovered 1 delivery GitHub failed to hand over in the last 3 days.", list.Find("[data-testid=recovered-count]").TextContent.Trim()));
    }

    [Fact]
    public async Task The_recovered_deliverys_page_says_it_was_recovered()
    {
        var (orgId, recovered, _, _) = await SeedAsync();

        SignInAs(orgId, MemberRole.Viewer);
        var detail = RenderPage<DeliveryDetail>(("Id", recovered.Id));
        detail.WaitForAssertion(() => Assert.NotNull(detail.Find("[data-testid=recovered]")));
        Assert.Contains("GitHub failed to hand it over; SelfTune asked for it again", detail.Find("[data-testid=recovered-at]").TextContent);
    }

    [Fact]
    public async Task A_delivery_that_was_not_recovered_has_no_mark()
    {
        var (orgId, _, plain, _) = await SeedAsync();

        SignInAs(orgId, MemberRole.Viewer);
        var detail = RenderPage<DeliveryDetail>(("Id", plain.Id));
        detail.WaitForAssertion(() => Assert.NotNull(detail.Find("[data-testid=delivery-title]")));
        Assert.Empty(detail.FindAll("[data-testid=recovered]"));
        Assert.Empty(detail.FindAll("[data-testid=recovered-at]"));
    }
}
