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
    /// How long a claim holds without renewal. A running job renews it every <c>Lease / 3</c>; a Running job whose lease
    /// has passed belongs to a worker that died and is taken over by any worker (that attempt counts).
    /// </summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>First retry delay after a transient failure; doubled on each further attempt, with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Cap of the retry delay.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);
}
