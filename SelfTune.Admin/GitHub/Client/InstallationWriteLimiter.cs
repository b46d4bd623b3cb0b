using System.Collections.Concurrent;

namespace SelfTune.Admin.GitHub.Client;

/// <summary>
/// GitHub's secondary rate limit allows about 80 content-creating requests a minute per installation; past it GitHub
/// answers 403/429 and may block the App for a while. Every write of one installation (check runs created and updated,
/// commit statuses) waits here first: at most <see cref="GitHubOptions.WritesPerMinute"/> in any minute (a sliding
/// window over the times of the last writes), per installation, so a burst of pushes to one account never slows another's.
/// </summary>
/// <remarks>
/// In-process: with several instances each keeps its own budget, so set GitHub:WritesPerMinute per instance (80 divided
/// by the instances). A write that has to wait waits, in order of arrival, for up to <see cref="MaxWait"/> (or until
/// cancelled); only then, or with <see cref="MaxQueued"/> writes already waiting, it fails with
/// <see cref="GitHubWriteLimitException"/>, which write-back treats like GitHub being busy and tries again later. A 403/429
/// that still comes back (another instance, another app on the same installation) is retried by the HTTP pipeline
/// (<see cref="GitHubRetryDelay"/>). Not System.Threading.RateLimiting: its limiters measure time with the Stopwatch even
/// when replenished by hand, so they cannot run on the app's <see cref="TimeProvider"/>, which the tests drive.
/// </remarks>
public sealed class InstallationWriteLimiter(IOptions<GitHubOptions> options, TimeProvider clock)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>Longest a write waits for its turn.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(5);

    /// <summary>Writes of one installation that may wait at once (minutes' worth); more fail at once.</summary>
    public const int MaxQueued = 1_000;

    readonly int writesPerWindow = Math.Max(1, options.Value.WritesPerMinute);
    readonly ConcurrentDictionary<long, Budget> budgets = new();

    /// <summary>One installation's writes: when the last ones were let through, and whose turn it is.</summary>
    sealed class Budget
    {
        public readonly Queue<DateTimeOffset> Recent = new();
        public readonly SemaphoreSlim Turn = new(1, 1); // async waiters are served first come, first served
        public int Waiting;
    }

    /// <summary>Waits until <paramref name="installationId"/> may make one more write (at once when under its budget).</summary>
    /// <exception cref="GitHubWriteLimitException">Waited <see cref="MaxWait"/>, or too many writes already waiting.</exception>
    public async Task WaitAsync(long installationId, CancellationToken ct)
    {
        var budget = budgets.GetOrAdd(installationId, _ => new Budget());
        try
        {
            if (Interlocked.Increment(ref budget.Waiting) > MaxQueued)
                throw new GitHubWriteLimitException(
                    $"more than {MaxQueued} writes to GitHub for the installation are waiting for GitHub's limit of {writesPerWindow} a minute");
            using var timeout = new CancellationTokenSource(MaxWait, clock);
            using var either = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            try
            {
                await budget.Turn.WaitAsync(either.Token);
                try
                {
                    while (NextFreeIn(budget) is { } wait) await Task.Delay(wait, clock, either.Token);
                }
                finally
                {
                    budget.Turn.Release();
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new GitHubWriteLimitException(
                    $"SelfTune held this write back for {MaxWait.TotalMinutes:0} minutes to stay within GitHub's limit of {writesPerWindow} writes a minute for the installation");
            }
        }
        finally
        {
            Interlocked.Decrement(ref budget.Waiting);
        }
    }

    /// <summary>Takes a write now (null) when fewer than the limit were made in the last window, else how long until one leaves it.</summary>
    TimeSpan? NextFreeIn(Budget budget)
    {
        var now = clock.GetUtcNow();
        while (budget.Recent.Count > 0 && budget.Recent.Peek() <= now - Window) budget.Recent.Dequeue();
        if (budget.Recent.Count < writesPerWindow)
        {
            budget.Recent.Enqueue(now);
            return null;
        }
        return budget.Recent.Peek() + Window - now;
    }
}

/// <summary>A write to GitHub that <see cref="InstallationWriteLimiter"/> could not let through in time; a later try may.</summary>
public sealed class GitHubWriteLimitException(string message) : TimeoutException(message);
