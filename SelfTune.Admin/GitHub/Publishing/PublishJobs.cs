namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// The GitHub integration's background jobs. Everything that touches one connection uses the connection id as the
/// concurrency key, so a connection's publishes run one at a time, in order, across every app instance.
/// </summary>
public static class PublishJobs
{
    public const string Webhook = "github.webhook";
    public const string Publish = "github.publish";
    public const string Sync = "github.sync";

    /// <summary>
    /// A stored delivery to process. <paramref name="OrgId"/> is set for a replay (the replaying org): processing then touches
    /// that org's connections and installation bindings only. Null for a delivery from GitHub, which concerns every org.
    /// </summary>
    public sealed record WebhookPayload(Guid DeliveryRowId, Guid? OrgId = null);
    public sealed record PublishPayload(Guid AttemptId);
    /// <summary>A sync or reconcile of one connection; <paramref name="Requested"/>: a person asked for this reconcile (see SyncService).</summary>
    public sealed record SyncPayload(Guid ConnectionId, AttemptTrigger Trigger, bool Requested = false);

    public static Job EnqueuePublish(JobQueue queue, AdminDbContext db, PublishAttempt attempt) =>
        queue.Enqueue(db, Publish, new PublishPayload(attempt.Id), ConcurrencyKey(attempt.ConnectionId));

    public static Job EnqueueSync(JobQueue queue, AdminDbContext db, Guid connectionId, AttemptTrigger trigger, bool requested = false) =>
        queue.Enqueue(db, Sync, new SyncPayload(connectionId, trigger, requested), ConcurrencyKey(connectionId),
            maxAttempts: trigger == AttemptTrigger.Manual || requested ? 1 : 3);

    public static string ConcurrencyKey(Guid connectionId) => "connection:" + connectionId.ToString("N");

    /// <summary>
    /// Processes a stored delivery. Its processed mark, what it queued and the job's own completion are one write
    /// (<see cref="JobRun.SaveAndCompleteAsync"/>): on SQLite a webhook job then takes the write lock once, not twice.
    /// </summary>
    public sealed class WebhookHandler(AdminDbContext db, WebhookProcessor processor, IChangeFeed changes, JobRun run) : IJobHandler
    {
        public async Task<string?> RunAsync(Job job, CancellationToken ct)
        {
            var payload = job.ReadPayload<WebhookPayload>();
            var id = payload.DeliveryRowId;
            var delivery = await db.Deliveries.TagWith(PreparedStatements.Tag).SingleOrDefaultAsync(d => d.Id == id, ct)
                ?? throw new PermanentJobFailure($"Delivery row {id} does not exist.");
            if (delivery.Outcome != DeliveryOutcome.Queued) return delivery.OutcomeMessage; // processed before a crash
            try
            {
                var outcome = (await processor.ProcessAsync(delivery, ct, payload.OrgId,
                    (message, token) => run.SaveAndCompleteAsync(db, message, token))).Message;
                changes.Publish(Change.OfDelivery(delivery));
                return outcome;
            }
            catch (UnprocessablePayloadException e)
            {
                // A payload that cannot be read, or lacks what its event needs, will not get better by retrying.
                var message = await MarkFailedAsync(id, e.Message, ct);
                throw new PermanentJobFailure(message);
            }
            catch (Exception e) when (job.Attempts >= job.MaxAttempts && !ct.IsCancellationRequested && e is not JobTakenOverException) // its new owner goes on
            {
                await MarkFailedAsync(id, $"Processing failed after {job.Attempts} tries: {GitHubFailures.Describe(e)}", ct);
                throw;
            }
        }

        async Task<string> MarkFailedAsync(Guid id, string message, CancellationToken ct)
        {
            db.ChangeTracker.Clear(); // drop whatever the failed processing left half-done
            var delivery = await db.Deliveries.SingleAsync(d => d.Id == id, ct);
            delivery.Outcome = DeliveryOutcome.Failed;
            delivery.OutcomeMessage = message;
            await db.SaveChangesAsync(ct);
            changes.Publish(Change.OfDelivery(delivery));
            return message;
        }
    }

    public sealed class PublishHandler(PublishService publisher) : IJobHandler, IJobGiveUp
    {
        public async Task<string?> RunAsync(Job job, CancellationToken ct)
        {
            var attemptId = job.ReadPayload<PublishPayload>().AttemptId;
            var lastTry = job.Attempts >= job.MaxAttempts;
            try
            {
                await publisher.RunAsync(attemptId, ct);
            }
            catch (PublishService.TransientPublishFailure e) when (!ct.IsCancellationRequested)
            {
                if (!lastTry)
                {
                    await publisher.MarkRetryingAsync(attemptId, e.Message, ct);
                    throw; // the queue tries again
                }
                // GitHub still fails on the last try: the attempt ends failed with the reason, and the job is done.
                await publisher.AbandonAsync(attemptId, e.GiveUpMessage, ct);
            }
            catch (Exception e) when ((lastTry || e is PermanentJobFailure) && !ct.IsCancellationRequested)
            {
                // The job ends here: the attempt must not stay 'running' (nor its check run in progress).
                await publisher.AbandonAsync(attemptId, $"Publishing failed after {job.Attempts} tries: {e.Message}", ct);
                throw;
            }
            return attemptId.ToString();
        }

        /// <summary>The worker failed the job without running it (its last try was abandoned by a worker that died).</summary>
        public Task OnGaveUpAsync(Job job, string reason, CancellationToken ct) =>
            publisher.AbandonAsync(job.ReadPayload<PublishPayload>().AttemptId, $"Publishing gave up: {reason}", ct);
    }

    public sealed class SyncHandler(SyncService sync) : IJobHandler
    {
        public async Task<string?> RunAsync(Job job, CancellationToken ct)
        {
            var payload = job.ReadPayload<SyncPayload>();
            var attemptId = await sync.RunAsync(payload.ConnectionId, payload.Trigger, ct, payload.Requested);
            return attemptId?.ToString();
        }
    }
}
