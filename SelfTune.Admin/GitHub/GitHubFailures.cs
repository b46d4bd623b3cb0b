using Octokit;

namespace SelfTune.Admin.GitHub;

/// <summary>Turns what went wrong talking to GitHub into the answer a client gets (after the client's retries are spent).</summary>
public static class GitHubFailures
{
    public static bool IsGitHubFailure(Exception e) =>
        e is ApiException or HttpRequestException or GitHubNotConfiguredException or TimeoutException
            || e is TaskCanceledException { InnerException: TimeoutException };

    public static ProblemException ToProblem(Exception e, string doing) => e switch
    {
        GitHubNotConfiguredException nc => NotConfigured(nc.MissingSettings),
        SecondaryRateLimitExceededException or RateLimitExceededException =>
            new ProblemException(503, "rate_limited", $"GitHub rate-limited SelfTune while {doing}; try again in a few minutes."),
        ApiException api => new ProblemException(502, "upstream_failure",
            $"GitHub answered {(int)api.StatusCode} while {doing}: {api.Message}"),
        _ => new ProblemException(502, "upstream_failure", $"GitHub could not be reached while {doing}: {e.Message}"),
    };

    /// <summary>A short sentence for an attempt's message.</summary>
    public static string Describe(Exception e) => e switch
    {
        GitHubNotConfiguredException nc => "the GitHub App is not configured (missing " + string.Join(", ", nc.MissingSettings) + ")",
        SecondaryRateLimitExceededException or RateLimitExceededException => "GitHub rate-limited the request",
        ApiException api => $"GitHub answered {(int)api.StatusCode}: {api.Message}",
        GitHubWriteLimitException limited => limited.Message,
        TaskCanceledException or TimeoutException => "GitHub did not answer in time",
        _ => e.Message,
    };

    public static ProblemException NotConfigured(IEnumerable<string> missing) =>
        new(503, "github_not_configured",
            $"The GitHub App is not configured. Missing settings: {string.Join(", ", missing)}. An admin can set them, or create the App from /settings/github.");
}
