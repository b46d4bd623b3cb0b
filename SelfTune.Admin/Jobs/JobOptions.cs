namespace SelfTune.Admin.Jobs;

/// <summary>The durable job queue's settings, bound from the "Jobs" configuration section.</summary>
public sealed class JobOptions
{
    public const string SectionName = "Jobs";

    /// <summary>Whether this process runs jobs. Enqueueing works either way (another instance may run them).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Parallel slots in this process; each runs one job at a time.</summary>
    public int Workers { get; set; } = 4;

    /// <summary>How often an idle slot looks for work. A job enqueued by this process wakes the slots at once.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a claim holds without renewal (default 30 s). While a job runs, its worker renews the lease every
    /// <see cref="RenewalInterval"/> (Lease / 3, so 10 s by default): a live worker keeps its job however long it runs, and
    /// two renewals in a row may fail (a busy database) before the lease is at risk.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A Running job whose lease has passed belongs to a worker that died (killed, crashed, machine lost) and is taken over
    /// by the next poll of any instance: within <c>Lease + PollInterval</c> of the dead worker's last renewal, so about
    /// 20 to 32 s after the crash with the defaults. A restarted instance does not wait for that: at start-up its worker
    /// gives back at once the Running jobs of dead workers on its own machine (see <see cref="JobQueue.TakeBackJobsOfDeadWorkersAsync"/>).
    /// Either way the abandoned run counts as an attempt, so a job that kills its process each time fails after MaxAttempts.
    /// </para>
    /// <para>
    /// Shorter leases mean a faster takeover but a renewal write per running job every Lease / 3, and a live job taken
    /// over (run twice) when the database blocks its renewals for longer than two thirds of the lease.
    /// </para>
    /// </remarks>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a running job's lease is renewed: a third of <see cref="Lease"/>.</summary>
    public TimeSpan RenewalInterval => Lease / 3;

    /// <summary>First retry delay after a transient failure; doubled on each further attempt, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Cap of the retry delay.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);
}
