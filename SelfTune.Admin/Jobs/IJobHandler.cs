namespace SelfTune.Admin.Jobs;

/// <summary>
/// Runs the jobs of one kind. Register it keyed by that kind: <c>services.AddKeyedScoped&lt;IJobHandler, MyHandler&gt;("my.kind")</c>;
/// the worker resolves the one handler of a job's kind in a fresh DI scope per job, so a handler may take scoped services
/// such as AdminDbContext. If two handlers are registered for the same kind, the last registered wins.
/// </summary>
/// <remarks>
/// A job may run more than once (a retry, or a takeover after a worker died mid-job), so handlers must be idempotent.
/// Throw <see cref="PermanentJobFailure"/> for failures a retry cannot fix; any other exception is retried with backoff
/// until the job's MaxAttempts. The token is cancelled when the host's shutdown timeout runs out or the job's lease was
/// taken over by another worker; the outcome of a cancelled run is not recorded.
/// </remarks>
public interface IJobHandler
{
    /// <returns>An optional result, stored in <see cref="Job.Result"/>.</returns>
    Task<string?> RunAsync(Job job, CancellationToken ct);
}

/// <summary>
/// Optional for an <see cref="IJobHandler"/> whose jobs leave something open while they run (an attempt shown as running, a
/// check run in progress). The worker calls it when it fails a job without running the handler: a takeover after the
/// job's last allowed attempt was abandoned by a worker that died. A handler closes up in its own catch when a run of
/// its own is the last one. Must be idempotent: a crash before the job's failure is recorded leads to another call.
/// </summary>
public interface IJobGiveUp
{
    /// <param name="reason">Why the job failed, as stored in <see cref="Job.LastError"/>.</param>
    Task OnGaveUpAsync(Job job, string reason, CancellationToken ct);
}

/// <summary>Thrown by a handler when retrying cannot help: the job fails at once with this message as LastError.</summary>
public sealed class PermanentJobFailure(string message) : Exception(message);

/// <summary>
/// The job's lease was taken over by another worker before the run could record its outcome (<see cref="JobRun.SaveAndCompleteAsync"/>):
/// nothing of the run was kept, and the new owner runs it. Not a failure of the job: the worker records nothing for it.
/// </summary>
public sealed class JobTakenOverException(long jobId) : Exception($"Job {jobId} was taken over by another worker; this run's changes were not kept.");

/// <summary>
/// The job a handler runs, for a handler whose last step is a write (scoped: one per job). Instead of returning to let
/// the worker record the success in a transaction of its own, such a handler ends with <see cref="SaveAndCompleteAsync"/>:
/// its changes, the job's completion and the claim of the slot's next job in one transaction. On SQLite every write
/// transaction takes the one write lock in turn with the webhook ingest, so a job that writes once costs one turn, not two.
/// </summary>
public sealed class JobRun(JobQueue queue)
{
    Job? job;

    /// <summary>Whether the handler completed the job itself; the worker then records nothing more.</summary>
    public bool Completed { get; private set; }

    /// <summary>The job claimed for the slot with that completion, if any.</summary>
    public Job? Next { get; private set; }

    internal void Start(Job claimed) => job = claimed;

    /// <summary>
    /// Saves <paramref name="db"/>'s changes and marks the job Succeeded with <paramref name="result"/>, in one transaction,
    /// as the handler's last step. Throws <see cref="JobTakenOverException"/>, keeping nothing, when the job's lease
    /// was lost meanwhile: the worker that took it over runs it again (handlers are idempotent).
    /// </summary>
    public async Task SaveAndCompleteAsync(AdminDbContext db, string? result, CancellationToken ct)
    {
        var claimed = job ?? throw new InvalidOperationException("Only a job's handler, run by the worker, can complete it.");
        var (completed, next) = await queue.SaveAndCompleteAsync(db, claimed, result, ct);
        if (!completed) throw new JobTakenOverException(claimed.Id);
        (Completed, Next) = (true, next);
    }
}
