using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using System.Data.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Jobs;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// The receiver's group commit (<see cref="SelfTune.Admin.GitHub.Webhooks.DeliveryBatchWriter"/>) and its
/// <c>Utf8JsonReader</c> field reading: what GitHub and an operator see of them.
/// </summary>
public sealed class DeliveryIngestTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    [Fact]
    public async Task The_same_delivery_sent_eight_times_at_once_is_accepted_once_and_stored_with_one_job()
    {
        // A connected repository (a push for one no connection uses is decided without a job), on a branch it does not follow.
        var c = await h.ConnectRepoAsync(h.Api, "batch-dup");
        var payload = h.GitHub.Payloads.Push(c.Repo, "refs/heads/feature", after: c.Sha);
        var deliveryId = Guid.NewGuid().ToString();

        // Sent together, the copies land in one batch or in batches one after another: either way one is stored.
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => h.SendWebhookAsync("push", payload, deliveryId)));
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Accepted);
        foreach (var duplicate in responses.Where(r => r.StatusCode != HttpStatusCode.Accepted))
        {
            Assert.Equal(HttpStatusCode.OK, duplicate.StatusCode);
            Assert.Equal("duplicate", (await duplicate.Content.ReadFromJsonAsync<JsonObject>())!["status"]!.GetValue<string>());
        }

        var row = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        var rowId = row.Id.ToString();
        Assert.Equal(1, await h.App.WithDbAsync(db => db.Jobs.CountAsync(j => j.Payload.Contains(rowId))));
        Assert.Equal(DeliveryOutcome.Processed, (await h.WaitForDeliveryAsync(deliveryId)).Outcome);
    }

    [Fact]
    public async Task A_push_for_a_repository_no_connection_uses_is_decided_when_stored_without_a_job_and_one_after_connecting_publishes()
    {
        var installation = h.GitHub.AddInstallation("gh-inline-decided");
        var repo = h.GitHub.AddRepo(installation, installation.AccountLogin, "inline-decided");
        var sha = h.GitHub.PushCommit(repo, "main", GitHubHarness.Skill("inline-decided"));
        h.GitHub.PushTag(repo, "v1.0.0", sha);

        var branch = await h.SendPushAsync(installation, repo, "refs/heads/main", sha);
        var tag = await h.SendPushAsync(installation, repo, "refs/tags/v1.0.0", sha);

        // Already processed when the 202 came back: the outcome its job would have written, and no job.
        var rows = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().Where(d => d.DeliveryId == branch || d.DeliveryId == tag).ToListAsync());
        Assert.All(rows, r => Assert.Equal(DeliveryOutcome.Processed, r.Outcome));
        Assert.Equal("Push to main: no connection follows this branch.", rows.Single(r => r.DeliveryId == branch).OutcomeMessage);
        Assert.Equal("Tag v1.0.0: no connection follows this repository.", rows.Single(r => r.DeliveryId == tag).OutcomeMessage);
        var rowIds = rows.Select(r => r.Id.ToString()).ToList();
        Assert.Equal(0, await h.App.WithDbAsync(db => db.Jobs.CountAsync(j => j.Payload.Contains(rowIds[0]) || j.Payload.Contains(rowIds[1]))));

        // Once a connection uses the repository, its pushes go to a job again and publish.
        await h.BindAsync(h.Api, installation);
        var connection = await h.ConnectAsync(h.Api, await h.CreateEntryAsync(h.Api, "inline-decided"), installation, repo);
        var connectionId = Guid.Parse(connection["id"]!.GetValue<string>());
        await h.WaitForConnectionJobsAsync(connectionId); // whatever creating it queued runs first
        var before = (await h.AttemptsAsync(connectionId)).Count;
        var delivery = await h.WaitForDeliveryAsync(await h.SendPushAsync(installation, repo, "refs/heads/main", sha));
        Assert.Equal(DeliveryOutcome.Processed, delivery.Outcome);
        Assert.Contains("1 attempt(s) queued", delivery.OutcomeMessage);
        var attempt = (await h.WaitForFinishedAttemptsAsync(connectionId, before + 1)).Single(a => a.DeliveryId == delivery.DeliveryId);
        Assert.True(attempt.Status is AttemptStatus.Published or AttemptStatus.Unchanged, attempt.Message);
    }

    [Fact]
    public async Task Deliveries_sent_together_are_each_stored_with_their_own_fields_outcome_and_job()
    {
        // Many at once, so they are stored in batches of several rows, on a writer whose statements are prepared (PostgreSQL):
        // every row must carry its own values, not another row's of the same batch or of the batch before.
        var connected = await h.ConnectRepoAsync(h.Api, "batch-many");
        var installation = h.GitHub.AddInstallation("gh-batch-many-elsewhere");
        var unconnected = h.GitHub.AddRepo(installation, installation.AccountLogin, "batch-many-elsewhere");
        var sent = Enumerable.Range(0, 48).Select(i =>
        {
            var repo = i % 2 == 0 ? connected.Repo : unconnected;
            var body = JsonNode.Parse(h.GitHub.Payloads.Push(repo, $"refs/heads/feature-{i}", after: connected.Sha))!.AsObject();
            body["action"] = $"action-{i}";
            return (DeliveryId: Guid.NewGuid().ToString(), Index: i, Repo: repo, Body: body.ToJsonString());
        }).ToList();

        var responses = await Task.WhenAll(sent.Select(d => h.SendWebhookAsync("push", d.Body, d.DeliveryId)));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));

        var ids = sent.Select(d => d.DeliveryId).ToList();
        var rows = (await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().Where(d => ids.Contains(d.DeliveryId)).ToListAsync()))
            .ToDictionary(r => r.DeliveryId);
        var jobs = await h.App.WithDbAsync(db => db.Jobs.AsNoTracking().Where(j => j.Kind == PublishJobs.Webhook).Select(j => j.Payload).ToListAsync());
        var jobsByRow = jobs.Select(p => JsonNode.Parse(p)!["deliveryRowId"]!.GetValue<Guid>()).GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());
        foreach (var (deliveryId, i, repo, _) in sent)
        {
            var row = rows[deliveryId];
            Assert.Equal(($"action-{i}", repo.Id, repo.FullName), (row.Action, row.RepositoryId, row.RepositoryFullName));
            if (repo == connected.Repo)
                Assert.Equal(1, jobsByRow.GetValueOrDefault(row.Id)); // queued: its job names it (the outcome is its job's to write)
            else
            {
                Assert.Equal((DeliveryOutcome.Processed, $"Push to feature-{i}: no connection follows this branch."), (row.Outcome, row.OutcomeMessage));
                Assert.Equal(0, jobsByRow.GetValueOrDefault(row.Id));
            }
        }
    }

    [Fact]
    public async Task A_batch_with_a_row_that_cannot_be_stored_keeps_every_other_row_once_and_fails_only_that_row()
    {
        // The writer is held on its first batch (its connection) while the rows under test gather behind it, so those
        // go in one batch: a row stored before the bad one, the bad one (no event: NOT NULL), rows after it. The batch
        // fails as a whole and is stored row by row; a row of it written before the failure must be rolled back with it,
        // or the retry finds it and calls it a duplicate (PostgreSQL's batch runs as one implicit transaction).
        var connected = await h.ConnectRepoAsync(h.Api, "batch-mixed");
        var unconnectedRepository = Random.Shared.NextInt64(1L << 40, 1L << 50);
        var factory = new HeldFactory(h.App.Services.GetRequiredService<IDbContextFactory<AdminDbContext>>());
        await using var writer = new DeliveryBatchWriter(factory, NullLogger<DeliveryBatchWriter>.Instance);
        var queue = h.App.Services.GetRequiredService<JobQueue>();
        var never = DateTimeOffset.UtcNow.AddYears(1); // the jobs are only rows here: no worker claims them
        var test = Guid.NewGuid().ToString();
        Job JobOf(WebhookDelivery delivery) => queue.NewJob("test.batch", new { test, delivery = delivery.DeliveryId }, notBefore: never);
        WebhookDelivery Row(string? eventName = "push", long? repository = null) => new()
        {
            DeliveryId = Guid.NewGuid().ToString(), Event = eventName!, RepositoryId = repository, ReceivedAt = DateTimeOffset.UtcNow,
            Payload = "{}", Outcome = DeliveryOutcome.Queued,
        };

        var first = Row();
        var firstStored = writer.StoreAsync(first, JobOf(first));
        await factory.Entered; // the writer has its first batch and waits for its connection
        var (before, bad, decided, queued, after) = (Row(), Row(eventName: null), Row(repository: unconnectedRepository), Row(repository: connected.Repo.Id), Row());
        var again = Row();
        again.DeliveryId = first.DeliveryId;
        Task<DeliveryBatchWriter.Written>[] stored =
        [
            writer.StoreAsync(before, JobOf(before)),
            writer.StoreAsync(bad, JobOf(bad)),
            writer.StoreAsync(decided, JobOf(decided), new DeliveryBatchWriter.IfUnconnected(unconnectedRepository, "no connection")),
            writer.StoreAsync(queued, JobOf(queued), new DeliveryBatchWriter.IfUnconnected(connected.Repo.Id, "no connection")),
            writer.StoreAsync(again, JobOf(again)),
            writer.StoreAsync(after, null),
        ];
        factory.Release();

        Assert.Equal(DeliveryBatchWriter.Written.WithJob, await firstStored);
        await Assert.ThrowsAnyAsync<DbException>(() => stored[1]);
        Assert.Equal(
            [DeliveryBatchWriter.Written.WithJob, DeliveryBatchWriter.Written.Decided, DeliveryBatchWriter.Written.WithJob, DeliveryBatchWriter.Written.Duplicate, DeliveryBatchWriter.Written.WithJob],
            await Task.WhenAll(stored.Where((_, i) => i != 1)));
        Assert.Equal((DeliveryOutcome.Processed, "no connection"), (decided.Outcome, decided.OutcomeMessage));
        Assert.Equal((DeliveryOutcome.Queued, (string?)null), (queued.Outcome, queued.OutcomeMessage));

        var ids = new[] { first, before, bad, decided, queued, after }.Select(d => d.DeliveryId).ToList();
        var rows = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().Where(d => ids.Contains(d.DeliveryId)).ToListAsync());
        Assert.Equal(new[] { first, before, decided, queued, after }.Select(d => d.DeliveryId).Order(), rows.Select(r => r.DeliveryId).Order());
        Assert.Equal((DeliveryOutcome.Processed, "no connection"), rows.Where(r => r.DeliveryId == decided.DeliveryId).Select(r => (r.Outcome, r.OutcomeMessage)).Single());
        Assert.Equal((DeliveryOutcome.Queued, (string?)null), rows.Where(r => r.DeliveryId == queued.DeliveryId).Select(r => (r.Outcome, r.OutcomeMessage)).Single());
        // Jobs: the first row's, the row before the bad one's and the queued decision's; none for the bad, decided or duplicate row.
        var jobs = await h.App.WithDbAsync(db => db.Jobs.AsNoTracking().Where(j => j.Payload.Contains(test)).Select(j => j.Payload).ToListAsync());
        Assert.Equal(new[] { first, before, queued }.Select(d => d.DeliveryId).Order(),
            jobs.Select(p => JsonNode.Parse(p)!["delivery"]!.GetValue<string>()).Order());
    }

    /// <summary>A context factory whose first context waits until <see cref="Release"/>; <see cref="Entered"/> says it was asked for.</summary>
    sealed class HeldFactory(IDbContextFactory<AdminDbContext> inner) : IDbContextFactory<AdminDbContext>
    {
        readonly TaskCompletionSource entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => entered.Task;
        public void Release() => released.TrySetResult();

        public AdminDbContext CreateDbContext() => throw new NotSupportedException("The writer opens its contexts asynchronously.");

        public async Task<AdminDbContext> CreateDbContextAsync(CancellationToken cancellationToken = default)
        {
            entered.TrySetResult();
            await released.Task.WaitAsync(cancellationToken);
            return await inner.CreateDbContextAsync(cancellationToken);
        }
    }

    [Fact]
    public async Task The_delivery_row_keeps_the_action_installation_and_repository_of_the_body()
    {
        var installation = h.GitHub.AddInstallation("fields-org");
        var repo = h.GitHub.AddRepo(installation, "fields-org", "skills");
        var payload = h.GitHub.Payloads.Push(repo, "refs/heads/main", after: h.GitHub.PushCommit(repo, "main", GitHubHarness.Skill("skills")));
        var body = JsonNode.Parse(payload)!.AsObject();
        body["action"] = "synthetic \"quoted\" action"; // escaped text comes back unescaped
        body["unrelated"] = new JsonObject { ["repository"] = new JsonObject { ["id"] = 1 }, ["action"] = "nested" }; // not the top level

        var deliveryId = await h.SendAsync("push", body.ToJsonString());

        var row = await h.App.WithDbAsync(db => db.Deliveries.AsNoTracking().SingleAsync(d => d.DeliveryId == deliveryId));
        Assert.Equal("synthetic \"quoted\" action", row.Action);
        Assert.Equal(installation.Id, row.InstallationId);
        Assert.Equal(repo.Id, row.RepositoryId);
        Assert.Equal(repo.FullName, row.RepositoryFullName);
    }

    [Theory]
    [InlineData("""{"action": "opened"} trailing""")]
    [InlineData("""{"action": "opened", "repository": {"id": 1, }}""")]
    public async Task A_body_that_is_not_one_well_formed_json_value_is_refused_and_not_stored(string body)
    {
        var deliveryId = Guid.NewGuid().ToString();
        using var response = await h.SendWebhookAsync("push", body, deliveryId);
        await GitHubHarness.AssertProblemAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal(0, await h.App.WithDbAsync(db => db.Deliveries.CountAsync(d => d.DeliveryId == deliveryId)));
    }
}
