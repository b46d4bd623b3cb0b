using System.Net;
using System.Threading.RateLimiting;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// Counts events per client address over a sliding window, with the framework's limiter: failures (a webhook signature
/// that does not match, an unknown API key), after which an address over the limit is refused with 429 and
/// <see cref="RetryAfter"/> until the window slides on; or things an address may do only so often (<see cref="TryCount"/>:
/// storing a refused delivery). No address (a Unix socket, an in-process test server) is one partition of its own.
/// </summary>
public class AddressFailureLimiter(int failuresPerWindow, TimeSpan window, TimeSpan step)
{
    readonly PartitionedRateLimiter<IPAddress> failures = PartitionedRateLimiter.Create<IPAddress, IPAddress>(address =>
        RateLimitPartition.GetSlidingWindowLimiter(address, _ => new SlidingWindowRateLimiterOptions
        {
            PermitLimit = failuresPerWindow, Window = window, SegmentsPerWindow = Math.Max(1, (int)(window / step)),
            QueueLimit = 0, AutoReplenishment = true,
        }));

    public int FailuresPerWindow => failuresPerWindow;

    /// <summary>How long a blocked address is asked to wait: one step of the window.</summary>
    public TimeSpan RetryAfter => step;

    public string RetryAfterSeconds => ((int)Math.Ceiling(step.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public bool IsBlocked(IPAddress? address) => failures.GetStatistics(address ?? IPAddress.None)?.CurrentAvailablePermits == 0;

    public void CountFailure(IPAddress? address) =>
        failures.AttemptAcquire(address ?? IPAddress.None).Dispose(); // a window permit is spent, not returned

    /// <summary>Counts one for <paramref name="address"/> when it is under the limit; false, counting nothing, when it is not.</summary>
    public bool TryCount(IPAddress? address)
    {
        using var lease = failures.AttemptAcquire(address ?? IPAddress.None);
        return lease.IsAcquired;
    }
}
