using System.Globalization;
using System.Net;
using System.Net.Http;
using Polly.Timeout;

namespace SelfTune.Admin.GitHub.Client;

/// <summary>
/// Decides whether a GitHub response/exception is retried and how long to wait first.
/// Pure so it can be unit tested; <c>null</c> means "do not retry".
/// </summary>
public static class GitHubRetryDelay
{
    /// <summary>x-ratelimit-reset has one-second resolution and clocks drift; wait a little past it.</summary>
    public static readonly TimeSpan ResetSlack = TimeSpan.FromSeconds(1);

    /// <param name="attempt">0-based number of the attempt that failed.</param>
    /// <param name="jitter">A random sample in [0, 1) used to spread plain backoff.</param>
    public static TimeSpan? ForResponse(HttpResponseMessage response, int attempt, DateTimeOffset now,
        TimeSpan baseDelay, TimeSpan maxDelay, double jitter)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (!IsRetryable(response)) return null;

        var hinted = ServerDelay(response, now);
        if (hinted is { } wait)
        {
            // Waiting longer than we are willing to would just hold the caller; surface the failure instead.
            return wait > maxDelay ? null : wait;
        }
        return Backoff(attempt, baseDelay, maxDelay, jitter);
    }

    /// <summary>Network failures and per-attempt timeouts are retried with backoff; anything else (incl. caller cancellation) is not.</summary>
    public static TimeSpan? ForException(Exception exception, int attempt, TimeSpan baseDelay, TimeSpan maxDelay, double jitter) =>
        exception is HttpRequestException or TimeoutRejectedException
            ? Backoff(attempt, baseDelay, maxDelay, jitter)
            : null;

    /// <summary>5xx, 429, and 403 when it is a (primary or secondary) rate limit.</summary>
    public static bool IsRetryable(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        if (status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests) return true;
        // A plain 403 is a permission problem and will not get better by retrying.
        return response.StatusCode == HttpStatusCode.Forbidden
               && (response.Headers.RetryAfter is not null || RateLimitExhausted(response));
    }

    /// <summary>Exponential backoff with "equal jitter": base·2^attempt scaled into [0.5, 1.5), capped at <paramref name="maxDelay"/>.</summary>
    public static TimeSpan Backoff(int attempt, TimeSpan baseDelay, TimeSpan maxDelay, double jitter)
    {
        var exp = Math.Pow(2, Math.Clamp(attempt, 0, 30));
        var ms = baseDelay.TotalMilliseconds * exp * (0.5 + Math.Clamp(jitter, 0, 1));
        return ms >= maxDelay.TotalMilliseconds ? maxDelay : TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>The wait the server asked for: Retry-After (seconds or date), else the rate-limit reset when exhausted.</summary>
    private static TimeSpan? ServerDelay(HttpResponseMessage response, DateTimeOffset now)
    {
        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta) return NonNegative(delta);
        if (retryAfter?.Date is { } date) return NonNegative(date - now);

        // GitHub sends x-ratelimit-reset on every response; it only matters once the quota is used up.
        if (RateLimitExhausted(response)
            && Header(response, "x-ratelimit-reset") is { } reset
            && long.TryParse(reset, NumberStyles.Integer, CultureInfo.InvariantCulture, out var epoch))
        {
            return NonNegative(DateTimeOffset.FromUnixTimeSeconds(epoch) - now + ResetSlack);
        }
        return null;
    }

    private static bool RateLimitExhausted(HttpResponseMessage response) =>
        Header(response, "x-ratelimit-remaining")?.Trim() == "0";

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private static TimeSpan NonNegative(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;
}
