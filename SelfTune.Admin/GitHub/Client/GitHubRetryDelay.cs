using System.Globalization;
using System.Net;
using System.Net.Http;
using Polly.Timeout;

namespace SelfTune.Admin.GitHub.Client;

/// <summary>
/// Decides whether a GitHub response/exception is retried and how long to wait first.
/// Pure so it can be unit tested; <c>null</c> means "do not retry".
/// </summary>
/// <remarks>
/// A 5xx, a timeout or a dropped connection can come after GitHub carried the request out, so only requests that are
/// harmless to repeat (<see cref="IsSafeToRepeat"/>) are sent again then. A rate-limit refusal (429, or 403 with
/// Retry-After or no quota left) and a connection that could not be made mean GitHub did nothing: those are retried
/// whatever the method.
/// </remarks>
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
        if ((int)response.StatusCode >= 500 && !IsSafeToRepeat(response.RequestMessage)) return null;

        var hinted = ServerDelay(response, now);
        if (hinted is { } wait)
        {
            // Waiting longer than we are willing to would just hold the caller; surface the failure instead.
            return wait > maxDelay ? null : wait;
        }
        return Backoff.Exponential(attempt, baseDelay, maxDelay, jitter, spread: 1);
    }

    /// <summary>
    /// Network failures and per-attempt timeouts are retried with backoff when <paramref name="request"/> is safe to repeat
    /// or never reached GitHub; anything else (incl. caller cancellation) is not.
    /// </summary>
    /// <param name="request">The request that failed; null when unknown (treated as safe to repeat).</param>
    public static TimeSpan? ForException(Exception exception, int attempt, TimeSpan baseDelay, TimeSpan maxDelay, double jitter,
        HttpRequestMessage? request = null)
    {
        if (exception is not (HttpRequestException or TimeoutRejectedException)) return null;
        if (!NeverReachedServer(exception) && !IsSafeToRepeat(request)) return null;
        return Backoff.Exponential(attempt, baseDelay, maxDelay, jitter, spread: 1);
    }

    /// <summary>
    /// Whether sending the request again is harmless even if GitHub carried the first one out. A POST creates something
    /// each time (a check run, a commit status), so it is not repeated blindly: its caller looks for what an unanswered
    /// one made before creating again (see WriteBack). Creating a second installation token is harmless. Our PATCHes set
    /// absolute values. Null (unknown) counts as safe.
    /// </summary>
    public static bool IsSafeToRepeat(HttpRequestMessage? request) =>
        request is null
        || request.Method != HttpMethod.Post
        || request.RequestUri?.AbsolutePath.EndsWith("/access_tokens", StringComparison.Ordinal) == true;

    /// <summary>The connection could not be made: the request was never sent.</summary>
    static bool NeverReachedServer(Exception exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError };

    /// <summary>5xx, 429, and 403 when it is a (primary or secondary) rate limit.</summary>
    public static bool IsRetryable(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        if (status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests) return true;
        // A plain 403 is a permission problem and will not get better by retrying.
        return response.StatusCode == HttpStatusCode.Forbidden
               && (response.Headers.RetryAfter is not null || RateLimitExhausted(response));
    }

    /// <summary>The wait the server asked for: Retry-After (seconds or date), else the rate-limit reset when exhausted.</summary>
    static TimeSpan? ServerDelay(HttpResponseMessage response, DateTimeOffset now)
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

    static bool RateLimitExhausted(HttpResponseMessage response) =>
        Header(response, "x-ratelimit-remaining")?.Trim() == "0";

    static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    static TimeSpan NonNegative(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;
}
