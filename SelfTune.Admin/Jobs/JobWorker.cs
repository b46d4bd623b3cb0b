using System.Diagnostics;

namespace SelfTune.Admin.Jobs;

/// <summary>
/// Runs queued jobs in <see cref="JobOptions.Workers"/> parallel slots. Each slot claims a job, runs the
/// <see cref="IJobHandler"/> registered under the job's kind in a fresh DI scope (renewing the lease every Lease / 3 meanwhile) and records the outcome:
/// Succeeded; Failed at once on <see cref="PermanentJobFailure"/> or an unknown kind; otherwise retried with
/// exponential backoff until MaxAttempts, then Failed.
/// </summary>
/// <remarks>
/// On a graceful stop the slots claim nothing more and let running jobs finish; when the host's shutdown timeout runs
/// out, handlers are cancelled and their jobs are given back (Pending, the attempt not counted). A process that is
/// killed leaves its jobs Running: any worker takes them over when their lease expires, and a worker starting on the
/// same machine takes them back at once (the killed attempt counts either way).
/// </remarks>
public sealed class JobWorker(
    JobQueue queue,
    IServiceScopeFactory scopes,
    IOptions<JobOptions> options,
    TimeProvider time,
    ILogger<JobWorker> logger) : BackgroundService
{
    // Cancelled when the host's shutdown timeout runs out (through AbortRunningJobsAsync): running handlers must stop then.
    readonly CancellationTokenSource abort = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.Enabled)
        {
            logger.LogInformation("Job worker disabled (Jobs:Enabled is false); jobs are only enqueued here");
            return;
        }
        var takenBack = await TakeBackJobsOfDeadWorkersAsync(stoppingToken);
        logger.LogInformation("Job worker {WorkerId} started with {Slots} slots (lease {Lease}, renewed every {Renewal}); took back {TakenBack} jobs of dead workers",
            queue.WorkerId, o.Workers, queue.Lease, queue.RenewalInterval, takenBack);
        await Task.WhenAll(Enumerable.Range(0, o.Workers).Select(slot => Task.Run(() => RunSlotAsync(slot, stoppingToken), CancellationToken.None)));
    }

    /// <summary>
    /// Before the first claim: the jobs a crashed process on this machine held (e.g. this app before a restart) go back to
    /// the queue now rather than after their lease. On an error they are left to the lease, as without this step.
    /// </summary>
    async Task<int> TakeBackJobsOfDeadWorkersAsync(CancellationToken stopping)
    {
        try
        {
            return await queue.TakeBackJobsOfDeadWorkersAsync(stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return 0;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job worker {WorkerId}: taking back the jobs of dead workers failed; their leases will free them", queue.WorkerId);
            return 0;
        }
    }

    /// <summary>After the shutdown timeout, how long the slots get to record the jobs they give back.</summary>
    static readonly TimeSpan ReleaseGrace = TimeSpan.FromSeconds(2);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken); // stops claiming, waits for running jobs or the shutdown timeout
        if (ExecuteTask is { IsCompleted: false } slots)
        {
            // The shutdown timeout ran out with jobs still running: their handlers are cancelled, and the grace starts
            // only once that cancellation has been delivered to every handler.
            await AbortRunningJobsAsync();
            await Task.WhenAny(slots, Task.Delay(ReleaseGrace, time)); // let them give their jobs back
        }
        // StopAsync can run twice at once (WebApplicationFactory stops the host, and so does the app's own Run when it
        // sees ApplicationStopping): whichever call returns, the other call's cancellation has been delivered too.
        if (Volatile.Read(ref aborting) is { } delivered) await delivered;
    }

    // The one cancellation of the running handlers, shared by every StopAsync call. A second abort.Cancel or CancelAsync
    // returns at once while the first one's callbacks may still be running (or queued), so a call cancelling on its own
    // could start its grace, run out of it and return before any handler had even been cancelled.
    readonly Lock abortLock = new();
    Task? aborting;

    Task AbortRunningJobsAsync()
    {
        lock (abortLock) return aborting ??= abort.CancelAsync(); // completes when every callback of abort has run
    }

    public override void Dispose()
    {
        base.Dispose();
        abort.Dispose();
    }

    async Task RunSlotAsync(int slot, CancellationToken stopping)
    {
        Job? next = null; // claimed with the completion of the job before it
        var looked = false; // that completion looked for a next job (and found none when next is null)
        var polled = true; // the first look, at start, is the slot's own
        while (!stopping.IsCancellationRequested)
        {
            var job = next;
            next = null;
            if (job is null && !looked)
            {
                try
                {
                    // Not cancellable: a claim abandoned half-way could be committed and then sit until its lease expires.
                    job = await queue.TryClaimAsync(CancellationToken.None);
                }
                catch (Exception e)
                {
                    logger.LogError(e, "Job slot {Slot}: claiming failed", slot);
                    polled = !await queue.WaitForWakeUpAsync(options.Value.PollInterval, stopping);
                    continue;
                }
                if (polled)
                {
                    // Found by a look of its own, not for a wake-up (which stands for one job): there may be more, so one
                    // more idle slot looks too, and a backlog found by polling still spreads over every slot.
                    if (job is not null) queue.Notify();
                }
                // Woken, maybe for a NOTIFY (which stands for any number of jobs): a job found passes it on, none ends it.
                else if (queue.TakeSpreading() && job is not null) queue.NotifySpreading();
            }

            looked = false;
            if (job is null) polled = !await queue.WaitForWakeUpAsync(options.Value.PollInterval, stopping);
            else (next, looked) = await RunJobAsync(job, slot, stopping);
        }
        // Claimed as the worker stopped, never started: back to the queue, the attempt not counted.
        if (next is not null) await RecordAsync(next, "release", () => queue.ReleaseAsync(next));
    }

    /// <summary>
    /// Runs a claimed job and records its outcome. Next: the slot's next job when the completion claimed one; Looked:
    /// the completion looked for one (a wake-up that came meanwhile is still counted, so the slot can wait, not look again).
    /// </summary>
    async Task<(Job? Next, bool Looked)> RunJobAsync(Job job, int slot, CancellationToken stopping)
    {
        // Jobs the handler stores (a webhook job's publishes) wake slots only once the outcome is recorded; the first of
        // them is usually the job the completion claims for this slot (JobQueue.DeferWakeUps).
        using var stored = queue.DeferWakeUps();
        (Job? Next, bool Looked) outcome = default;
        try
        {
            return outcome = await RunDeferringWakeUpsAsync(job, slot, stored, stopping);
        }
        finally
        {
            stored.WakeFor(outcome.Next);
        }
    }

    async Task<(Job? Next, bool Looked)> RunDeferringWakeUpsAsync(Job job, int slot, JobQueue.DeferredWakeUps stored, CancellationToken stopping)
    {
        using var _ = logger.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["JobKind"] = job.Kind });
        if (job.Attempts > job.MaxAttempts)
        {
            // Taken over after its last allowed attempt was abandoned by a worker that died.
            var reason = $"Attempt {job.Attempts - 1} of {job.MaxAttempts} was abandoned (its worker stopped renewing the lease) and no attempts remain. Last error: {job.LastError ?? "none"}";
            await GiveUpAsync(job, reason);
            await RecordAsync(job, "fail", () => queue.FailAsync(job, reason));
            logger.LogWarning("Job {JobId} ({Kind}) failed: its last attempt was abandoned", job.Id, job.Kind);
            return default;
        }

        // The job continues the trace of the request (or job) that enqueued it: a webhook's 202, its publish and write-back are one trace.
        ActivityContext.TryParse(job.TraceParent, null, out var enqueuedBy);
        using var activity = SelfTuneTelemetry.Source.StartActivity($"job {job.Kind}", ActivityKind.Internal, enqueuedBy);
        activity?.SetTag("selftune.job.id", job.Id);
        activity?.SetTag("selftune.job.kind", job.Kind);
        activity?.SetTag("selftune.job.attempt", job.Attempts);
        logger.LogDebug("Job {JobId} ({Kind}) attempt {Attempt}/{MaxAttempts} started in slot {Slot}", job.Id, job.Kind, job.Attempts, job.MaxAttempts, slot);
        var started = Stopwatch.GetTimestamp();
        using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(abort.Token);
        using var renewalCts = new CancellationTokenSource();
        var leaseLost = false;
        var renewal = RenewLeaseAsync(job, () => { leaseLost = true; jobCts.Cancel(); }, renewalCts.Token);

        string? result = null;
        Exception? error = null;
        JobRun? run = null;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            run = scope.ServiceProvider.GetRequiredService<JobRun>();
            run.Start(job);
            var handler = scope.ServiceProvider.GetKeyedService<IJobHandler>(job.Kind)
                ?? throw new PermanentJobFailure($"No job handler is registered for kind '{job.Kind}'.");
            result = await handler.RunAsync(job, jobCts.Token);
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            stored.Dispose(); // what the slot writes from here on (the outcome, a release) wakes as usual
            await renewalCts.CancelAsync();
            await renewal;
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (error is not null) activity?.SetStatus(ActivityStatusCode.Error, error.Message);

        if (run is { Completed: true })
        {
            // Recorded by the handler with its last write (JobRun.SaveAndCompleteAsync). What it did after that changes
            // nothing recorded; the lease it no longer holds may have looked lost to the renewal meanwhile.
            if (error is not null) logger.LogWarning(error, "Job {JobId} ({Kind}) attempt {Attempt} failed after completing itself; it stays succeeded", job.Id, job.Kind, job.Attempts);
            logger.LogInformation("Job {JobId} ({Kind}) attempt {Attempt} succeeded in {Elapsed}", job.Id, job.Kind, job.Attempts, elapsed);
            return (run.Next, true);
        }

        if (leaseLost || error is JobTakenOverException)
        {
            logger.LogWarning("Job {JobId} ({Kind}) attempt {Attempt}: lease lost to another worker after {Elapsed}; outcome discarded",
                job.Id, job.Kind, job.Attempts, elapsed);
            return default;
        }
        if (error is OperationCanceledException && abort.IsCancellationRequested)
        {
            logger.LogWarning("Job {JobId} ({Kind}) attempt {Attempt} interrupted by shutdown; given back to the queue", job.Id, job.Kind, job.Attempts);
            await RecordAsync(job, "release", () => queue.ReleaseAsync(job));
            return default;
        }

        switch (error)
        {
            case null:
                logger.LogInformation("Job {JobId} ({Kind}) attempt {Attempt} succeeded in {Elapsed}", job.Id, job.Kind, job.Attempts, elapsed);
                if (stopping.IsCancellationRequested)
                {
                    await RecordAsync(job, "complete", () => queue.CompleteAsync(job, result));
                    break;
                }
                Job? next = null;
                var looked = false;
                await RecordAsync(job, "complete", async () =>
                {
                    (var completed, next) = await queue.CompleteAndClaimNextAsync(job, result);
                    looked = true;
                    return completed;
                });
                return (next, looked);

            case PermanentJobFailure permanent:
                logger.LogWarning("Job {JobId} ({Kind}) attempt {Attempt} failed permanently: {Error}", job.Id, job.Kind, job.Attempts, permanent.Message);
                await RecordAsync(job, "fail", () => queue.FailAsync(job, permanent.Message));
                break;

            case var transient when job.Attempts >= job.MaxAttempts:
                logger.LogWarning(transient, "Job {JobId} ({Kind}) attempt {Attempt}/{MaxAttempts} failed; no attempts remain",
                    job.Id, job.Kind, job.Attempts, job.MaxAttempts);
                await RecordAsync(job, "fail", () => queue.FailAsync(job, Describe(transient)));
                break;

            case var transient:
                var o = options.Value;
                var delay = Backoff.Exponential(job.Attempts - 1, o.RetryBaseDelay, o.MaxRetryDelay, Random.Shared.NextDouble(), spread: 0.5);
                logger.LogWarning(transient, "Job {JobId} ({Kind}) attempt {Attempt}/{MaxAttempts} failed; retrying in {Delay}",
                    job.Id, job.Kind, job.Attempts, job.MaxAttempts, delay);
                if (await RecordAsync(job, "retry", () => queue.RetryLaterAsync(job, Describe(transient), time.GetUtcNow() + delay)))
                    WakeAfter(delay);
                break;
        }
        return default;
    }

    async Task GiveUpAsync(Job job, string reason)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            if (scope.ServiceProvider.GetKeyedService<IJobHandler>(job.Kind) is IJobGiveUp handler)
                await handler.OnGaveUpAsync(job, reason, abort.Token);
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job {JobId} ({Kind}): its handler's give-up hook failed", job.Id, job.Kind);
        }
    }

    /// <summary>Writes an outcome; the claim was lost when it returns false (logged). Database errors are logged, not thrown.</summary>
    async Task<bool> RecordAsync(Job job, string operation, Func<Task<bool>> write)
    {
        try
        {
            if (await write()) return true;
            logger.LogWarning("Job {JobId} ({Kind}) attempt {Attempt}: {Operation} ignored, the job was taken over by another worker",
                job.Id, job.Kind, job.Attempts, operation);
        }
        catch (Exception e)
        {
            // The job stays Running until its lease expires; then it is taken over and run again.
            logger.LogError(e, "Job {JobId} ({Kind}) attempt {Attempt}: {Operation} could not be recorded", job.Id, job.Kind, job.Attempts, operation);
        }
        return false;
    }

    async Task RenewLeaseAsync(Job job, Action onLost, CancellationToken ct)
    {
        // The period comes from the queue, which sets the lease length: a reloaded Jobs:Lease changes both together
        // (a period kept from start-up could outlast a shortened lease, and every long job would be taken over).
        using var timer = new PeriodicTimer(queue.RenewalInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (queue.RenewalInterval != timer.Period) timer.Period = queue.RenewalInterval;
                try
                {
                    if (await queue.RenewLeaseAsync(job, ct)) continue;
                    onLost();
                    return;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Job {JobId} ({Kind}): renewing the lease failed; trying again", job.Id, job.Kind);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Wakes the local slots when a retry becomes due, instead of waiting for the next poll.</summary>
    void WakeAfter(TimeSpan delay)
    {
        ITimer? timer = null;
        timer = time.CreateTimer(_ =>
        {
            queue.Notify();
            timer?.Dispose();
        }, null, delay, Timeout.InfiniteTimeSpan);
    }

    static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}";
}
