using System.Collections.Concurrent;

namespace SelfTune.Admin.GitHub.Client;

/// <summary>
/// GitHub's secondary rate limit allows about 80 content-creating requests a minute per installation; past it GitHub
/// answers 403/429 and may block the App for a while. Every write of one installation (check runs created and updated,
/// commit statuses) waits here first: at most <see cref="GitHubOptions.WritesPerMinute"/> in any minute (a sliding
/// window over the times of the last writes), per installation, so a burst of pushes to one account never slows another's.
/// </summary>
/// <remarks>
/// Each write is given its moment when it arrives, under a lock: now if fewer than the limit were made or promised in the
/// last minute, else one minute after the write that the limit counts back to. Moments are handed out in order of
/// arrival, so the writes of one installation go in the order they came and the order never depends on which thread
/// wakes first. A write whose moment is more than <see cref="MaxWait"/> away fails at once with
/// <see cref="GitHubWriteLimitException"/> (and takes no moment); write-back records it as the attempt's write-back
/// failure without trying again (seconds later the queue is as deep): better than holding a job for minutes only to fail. A cancelled wait keeps its moment (the budget
/// errs on the safe side). In-process: with several instances each keeps its own budget, so set GitHub:WritesPerMinute
/// per instance (80 divided by the instances). A 403/429 that still comes back (another instance, another app on the
/// same installation) is retried by the HTTP pipeline (<see cref="GitHubRetryDelay"/>). Not
/// System.Threading.RateLimiting: its limiters measure time with the Stopwatch even when replenished by hand, so they
/// cannot run on the app's <see cref="TimeProvider"/>, which the tests drive.
/// </remarks>
public sealed class InstallationWriteLimiter(IOptions<GitHubOptions> options, TimeProvider clock)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>Longest a write may be asked to wait for its moment; one that would wait longer fails at once.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(5);

    readonly int writesPerWindow = Math.Max(1, options.Value.WritesPerMinute);
    readonly ConcurrentDictionary<long, Queue<DateTimeOffset>> budgets = new();

    /// <summary>Waits until <paramref name="installationId"/> may make one more write (at once when under its budget).</summary>
    /// <exception cref="GitHubWriteLimitException">The write's moment is more than <see cref="MaxWait"/> away.</exception>
    public async Task WaitAsync(long installationId, CancellationToken ct)
    {
        var wait = Reserve(budgets.GetOrAdd(installationId, _ => new Queue<DateTimeOffset>()));
        if (wait > TimeSpan.Zero) await Task.Delay(wait, clock, ct);
    }

    /// <summary>
    /// Gives the next write of one installation its moment and returns how long until then. <paramref name="moments"/>
    /// holds, oldest first, the moments given in the last minute and those still ahead.
    /// </summary>
    TimeSpan Reserve(Queue<DateTimeOffset> moments)
    {
        lock (moments)
        {
            var now = clock.GetUtcNow();
            while (moments.Count > 0 && moments.Peek() <= now - Window) moments.Dequeue();
            var moment = now;
            if (moments.Count > 0)
            {
                var latest = moments.Last();
                if (latest > moment) moment = latest; // keeps the queue in order: nobody overtakes a waiting write
                if (moments.Count >= writesPerWindow)
                {
                    // The write the limit counts back to: with this one, the last writesPerWindow writes span a minute.
                    var countsBackTo = moments.ElementAt(moments.Count - writesPerWindow) + Window;
                    if (countsBackTo > moment) moment = countsBackTo;
                }
            }
            if (moment - now > MaxWait)
                throw new GitHubWriteLimitException(
                    $"SelfTune would have to hold this write back more than {MaxWait.TotalMinutes:0} minutes to stay within GitHub's limit of {writesPerWindow} writes a minute for the installation");
            moments.Enqueue(moment);
            return moment - now;
        }
    }
}

/// <summary>A write to GitHub that <see cref="InstallationWriteLimiter"/> could not let through in time; a later try may.</summary>
public sealed class GitHubWriteLimitException(string message) : TimeoutException(message);
