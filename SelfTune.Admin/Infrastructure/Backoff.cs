namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// Exponential backoff with "equal jitter", the one curve behind every retry wait: job retries (JobWorker), GitHub HTTP
/// retries when the server gives no hint (GitHubRetryDelay) and write-back retries (WriteBack).
/// </summary>
public static class Backoff
{
    /// <summary>
    /// The wait before retry <paramref name="retry"/> (0 = the first retry): <c>baseDelay · 2^retry</c>, capped at
    /// <paramref name="maxDelay"/>, then scaled by <c>0.5 + spread · jitter</c> so retries of calls that failed together
    /// spread out, and never past <paramref name="maxDelay"/>.
    /// </summary>
    /// <param name="jitter">A random sample in [0, 1].</param>
    /// <param name="spread">How far jitter reaches: 0.5 keeps the wait in [½, 1] of the curve, 1 in [½, 1½).</param>
    public static TimeSpan Exponential(int retry, TimeSpan baseDelay, TimeSpan maxDelay, double jitter, double spread)
    {
        var curve = Math.Min(baseDelay.Ticks * Math.Pow(2, Math.Clamp(retry, 0, 30)), maxDelay.Ticks);
        var ticks = Math.Round(curve * (0.5 + spread * Math.Clamp(jitter, 0, 1)));
        return TimeSpan.FromTicks((long)Math.Min(ticks, maxDelay.Ticks));
    }
}
