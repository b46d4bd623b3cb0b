namespace SelfTune.Admin.Jobs;

/// <summary>Backoff between attempts of a job that failed transiently.</summary>
public static class JobRetryDelay
{
    /// <summary>
    /// <c>baseDelay * 2^(attempt-1)</c>, capped at <paramref name="maxDelay"/>, then scaled into its upper half by
    /// <paramref name="jitter"/> (0..1) so retries of jobs that failed together spread out.
    /// </summary>
    /// <param name="attempt">The attempt that just failed, from 1.</param>
    public static TimeSpan Compute(int attempt, TimeSpan baseDelay, TimeSpan maxDelay, double jitter)
    {
        var exponent = Math.Clamp(attempt - 1, 0, 30);
        var ticks = Math.Min(baseDelay.Ticks * Math.Pow(2, exponent), maxDelay.Ticks);
        return TimeSpan.FromTicks((long)(ticks * (0.5 + 0.5 * Math.Clamp(jitter, 0, 1))));
    }
}
