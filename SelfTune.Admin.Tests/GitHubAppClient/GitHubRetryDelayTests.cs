using System.Net;
using Polly.Timeout;
using SelfTune.Admin.GitHub.Client;

namespace SelfTune.Admin.Tests.GitHubAppClient;

public class GitHubRetryDelayTests
{
    private static readonly DateTimeOffset Now = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private static readonly TimeSpan Base = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(60);

    private static TimeSpan? Delay(HttpResponseMessage r, int attempt = 0, double jitter = 0.5) =>
        GitHubRetryDelay.ForResponse(r, attempt, Now, Base, Max, jitter);

    private static HttpResponseMessage Response(HttpStatusCode status, params (string Name, string Value)[] headers)
    {
        var r = new HttpResponseMessage(status);
        foreach (var (name, value) in headers) r.Headers.TryAddWithoutValidation(name, value);
        return r;
    }

    [Fact]
    public void Retry_after_seconds_is_honoured() =>
        Assert.Equal(TimeSpan.FromSeconds(7), Delay(Response(HttpStatusCode.TooManyRequests, ("Retry-After", "7"))));

    [Fact]
    public void Retry_after_date_is_honoured() =>
        Assert.Equal(TimeSpan.FromSeconds(10),
            Delay(Response(HttpStatusCode.Forbidden, ("Retry-After", Now.AddSeconds(10).ToString("R")))));

    [Fact]
    public void Rate_limit_reset_is_honoured_when_quota_is_exhausted() =>
        Assert.Equal(TimeSpan.FromSeconds(20) + GitHubRetryDelay.ResetSlack,
            Delay(Response(HttpStatusCode.Forbidden,
                ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", Now.AddSeconds(20).ToUnixTimeSeconds().ToString()))));

    [Fact]
    public void Rate_limit_reset_in_the_past_retries_immediately() =>
        Assert.Equal(TimeSpan.Zero,
            Delay(Response(HttpStatusCode.Forbidden,
                ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", Now.AddSeconds(-30).ToUnixTimeSeconds().ToString()))));

    [Theory]
    [InlineData(0, 0.5, 1000)]
    [InlineData(1, 0.5, 2000)]
    [InlineData(3, 0.5, 8000)]
    [InlineData(2, 0.0, 2000)]
    [InlineData(2, 0.99, 5960)]
    [InlineData(10, 0.5, 60000)] // capped at MaxRetryDelay
    public void Plain_5xx_uses_exponential_backoff_with_jitter(int attempt, double jitter, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Delay(Response(HttpStatusCode.BadGateway), attempt, jitter));

    [Fact]
    public void Reset_header_is_ignored_while_quota_remains()
    {
        // GitHub sends x-ratelimit-reset on every response; a 503 must not wait for it.
        var r = Response(HttpStatusCode.ServiceUnavailable,
            ("x-ratelimit-remaining", "4000"), ("x-ratelimit-reset", Now.AddMinutes(40).ToUnixTimeSeconds().ToString()));
        Assert.Equal(Base, Delay(r));
    }

    [Fact]
    public void Server_delay_beyond_max_is_not_retried()
    {
        Assert.Null(Delay(Response(HttpStatusCode.TooManyRequests, ("Retry-After", "120"))));
        Assert.Null(Delay(Response(HttpStatusCode.Forbidden,
            ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", Now.AddMinutes(30).ToUnixTimeSeconds().ToString()))));
    }

    [Fact]
    public void Rate_limited_429_without_hints_backs_off() =>
        Assert.Equal(Base, Delay(Response(HttpStatusCode.TooManyRequests)));

    [Fact]
    public void Forbidden_with_exhausted_quota_but_no_reset_backs_off() =>
        Assert.Equal(Base, Delay(Response(HttpStatusCode.Forbidden, ("x-ratelimit-remaining", "0"))));

    [Theory]
    [InlineData(HttpStatusCode.OK)]
    [InlineData(HttpStatusCode.Found)]
    [InlineData(HttpStatusCode.BadRequest)]
    [InlineData(HttpStatusCode.Unauthorized)]
    [InlineData(HttpStatusCode.Forbidden)] // a permission 403 carries no rate-limit signal
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.UnprocessableEntity)]
    public void Non_transient_statuses_are_not_retried(HttpStatusCode status) =>
        Assert.Null(Delay(Response(status, ("x-ratelimit-remaining", "4999"))));

    [Fact]
    public void Network_errors_and_attempt_timeouts_are_retried_but_cancellation_is_not()
    {
        Assert.Equal(Base, GitHubRetryDelay.ForException(new HttpRequestException("boom"), 0, Base, Max, 0.5));
        Assert.Equal(2 * Base, GitHubRetryDelay.ForException(new TimeoutRejectedException(), 1, Base, Max, 0.5));
        Assert.Null(GitHubRetryDelay.ForException(new OperationCanceledException(), 0, Base, Max, 0.5));
        Assert.Null(GitHubRetryDelay.ForException(new InvalidOperationException(), 0, Base, Max, 0.5));
    }
}
