using System.Net.Http.Json;
using System.Text.Json.Nodes;
using AngleSharp.Dom;
using Bunit;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.GitHub;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>Rows the GitHub pages show, written straight to the app's database (no GitHub needed), and small page helpers.</summary>
public static class PageSeed
{
    static long nextGitHubId = 7_000_000 + Random.Shared.Next(1_000_000);

    public static long NewGitHubId() => Interlocked.Increment(ref nextGitHubId);

    public static Task<GitHubInstallation> InstallationAsync(this AdminAppFactory app, Guid orgId, string account = "acme-gh",
        bool suspended = false, bool deleted = false, string permissions = """{"contents":"read","metadata":"read","checks":"write"}""",
        long? installationId = null) =>
        app.WithDbAsync(async db =>
        {
            var now = DateTimeOffset.UtcNow;
            var row = new GitHubInstallation
            {
                OrgId = orgId, InstallationId = installationId ?? NewGitHubId(), AccountLogin = account, AccountType = "Organization",
                Suspended = suspended, DeletedAt = deleted ? now : null, Permissions = permissions, CreatedAt = now, UpdatedAt = now,
            };
            db.Installations.Add(row);
            await db.SaveChangesAsync();
            return row;
        });

    public static Task<GitHubConnection> ConnectionAsync(this AdminAppFactory app, Guid orgId, string entryName, string repo,
        long installationId, string? pausedReason = null, long? repoId = null) =>
        app.WithDbAsync(async db =>
        {
            var now = DateTimeOffset.UtcNow;
            var entry = new RegistryEntry { OrgId = orgId, Name = entryName, CreatedAt = now, UpdatedAt = now };
            var parts = repo.Split('/');
            var connection = new GitHubConnection
            {
                OrgId = orgId, EntryId = entry.Id, InstallationId = installationId, RepoId = repoId ?? NewGitHubId(),
                RepoOwner = parts[0], RepoName = parts[1], PausedReason = pausedReason, CreatedAt = now, UpdatedAt = now,
            };
            db.Entries.Add(entry);
            db.Connections.Add(connection);
            await db.SaveChangesAsync();
            return connection;
        });

    /// <summary>Stores an attempt and tells the app's change feed, as the publish job does.</summary>
    public static async Task<PublishAttempt> AttemptAsync(this AdminAppFactory app, GitHubConnection connection, AttemptStatus status,
        string? version = null, string? message = null, AttemptTrigger trigger = AttemptTrigger.Push, string? deliveryId = null, bool notify = true)
    {
        var attempt = await app.WithDbAsync(async db =>
        {
            var now = DateTimeOffset.UtcNow;
            var a = new PublishAttempt
            {
                OrgId = connection.OrgId, ConnectionId = connection.Id, Trigger = trigger, Status = status, Version = version,
                SourceRef = "0123456789abcdef0123456789abcdef01234567", Message = message, CreatedAt = now, StartedAt = now,
                FinishedAt = status is AttemptStatus.Queued or AttemptStatus.Running ? null : now, DeliveryId = deliveryId,
            };
            db.Attempts.Add(a);
            await db.SaveChangesAsync();
            return a;
        });
        if (notify) app.Services.GetRequiredService<IChangeFeed>().Publish(Change.OfAttempt(attempt));
        return attempt;
    }

    public static Task<WebhookDelivery> DeliveryAsync(this AdminAppFactory app, string eventName, long? installationId, long? repositoryId = null,
        string? repo = null, DeliveryOutcome outcome = DeliveryOutcome.Processed, string? message = null, string payload = """{"zen":"Keep it logically awesome."}""",
        DateTimeOffset? receivedAt = null) =>
        app.WithDbAsync(async db =>
        {
            var row = new WebhookDelivery
            {
                DeliveryId = Guid.NewGuid().ToString(), Event = eventName, InstallationId = installationId, RepositoryId = repositoryId,
                RepositoryFullName = repo, ReceivedAt = receivedAt ?? DateTimeOffset.UtcNow, Outcome = outcome, OutcomeMessage = message, Payload = payload,
            };
            db.Deliveries.Add(row);
            await db.SaveChangesAsync();
            return row;
        });

    /// <summary>
    /// A new org (pro) with an API client, bound through the API to a new installation on the fake, with one repository that
    /// has a skill on main, connected to a new entry. The way an operator gets there, minus the browser.
    /// </summary>
    public static async Task<Connected> ConnectedOrgAsync(this GitHubHarness h, string name, object? connectionSettings = null)
    {
        var (orgId, key) = await h.App.CreateOrgAsync(Plan.Pro);
        var api = h.App.CreateClient(key);
        var installation = h.GitHub.AddInstallation(name + "-gh");
        var repo = h.GitHub.AddRepo(installation, name + "-gh", "skills");
        var sha = h.GitHub.PushCommit(repo, "main", GitHubHarness.Skill(name));
        await h.BindAsync(api, installation);
        var entryId = await h.CreateEntryAsync(api, name);
        // The pages' tests push or sync themselves: no first sync racing them (the setup form's tests cover publishing on create).
        var connection = await h.ConnectAsync(api, entryId, installation, repo, connectionSettings, firstSync: false);
        return new Connected(orgId, api, installation, repo, Guid.Parse(connection["id"]!.GetValue<string>()), Guid.Parse(entryId), sha);
    }

    public sealed record Connected(Guid OrgId, HttpClient Api, FakeInstallation Installation, FakeRepo Repo, Guid ConnectionId, Guid EntryId, string HeadSha);

    public static async Task<JsonObject> GetJsonAsync(this HttpClient api, string url) => (await api.GetFromJsonAsync<JsonObject>(url))!;

    /// <summary>The input of a MudBlazor field carrying <c>data-testid</c> (on the input itself or on its wrapper).</summary>
    public static IElement InputOf(this IRenderedComponent<ContainerFragment> page, string testId) =>
        page.Find($"input[data-testid={testId}], [data-testid={testId}] input");

    public static readonly TimeSpan Slow = TimeSpan.FromSeconds(30);
}
