using Octokit;
using Octokit.Internal;

namespace SelfTune.Admin.GitHub;

/// <summary>The App's OAuth client, for GitHub's user authorization.</summary>
public sealed record GitHubOAuthClient(string ClientId, string ClientSecret)
{
    public override string ToString() => $"GitHubOAuthClient {{ ClientId = {ClientId} }}"; // the secret stays out of logs
}

/// <summary>An installation of the App that GitHub lists for the user who authorized it.</summary>
public sealed record ReachableInstallation(long Id, string AccountLogin, string AccountType);

/// <summary>
/// GitHub's user authorization for the App (https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app):
/// the browser comes back with a code, which is exchanged for a user-to-server token, which lists the installations the
/// person's GitHub account can access (<c>GET /user/installations</c>). The token is used for that one list and dropped.
/// </summary>
public sealed class GitHubUserAuthorization(IOptionsMonitor<GitHubOptions> options, StoredAppCredentials stored, IHttpMessageHandlerFactory handlers)
{
    public const string ClientIdSetting = GitHubOptions.SectionName + ":" + nameof(GitHubOptions.ClientId);
    public const string ClientSecretSetting = GitHubOptions.SectionName + ":" + nameof(GitHubOptions.ClientSecret);

    /// <summary>The configured OAuth client when both settings are set (configuration wins), else the manifest flow's, else null.</summary>
    public async Task<GitHubOAuthClient?> GetClientAsync(CancellationToken ct)
    {
        var o = options.CurrentValue;
        if (!string.IsNullOrWhiteSpace(o.ClientId) && !string.IsNullOrWhiteSpace(o.ClientSecret)) return new GitHubOAuthClient(o.ClientId.Trim(), o.ClientSecret);
        return await stored.GetOAuthClientAsync(ct);
    }

    /// <summary>GitHub's page that asks the signed-in GitHub user to authorize the App and sends them to <paramref name="redirectUri"/>.</summary>
    public string AuthorizeUrl(string clientId, string state, Uri redirectUri) =>
        $"{options.CurrentValue.WebBaseUrl.AbsoluteUri.TrimEnd('/')}/login/oauth/authorize?client_id={Uri.EscapeDataString(clientId)}" +
        $"&state={Uri.EscapeDataString(state)}&redirect_uri={Uri.EscapeDataString(redirectUri.AbsoluteUri)}";

    /// <summary>Exchanges <paramref name="code"/> (single use) and lists, on every page, the installations the user can access.</summary>
    public async Task<IReadOnlyList<ReachableInstallation>> ListReachableInstallationsAsync(string code, CancellationToken ct)
    {
        var client = await GetClientAsync(ct) ?? throw NotConfigured();
        var o = options.CurrentValue;
        OauthToken token;
        try
        {
            // The token endpoint lives on the web host (github.com/login/oauth/access_token), not the API host.
            token = await CreateClient(o.WebBaseUrl, Credentials.Anonymous).Oauth.CreateAccessToken(new OauthTokenRequest(client.ClientId, client.ClientSecret, code), ct);
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, "exchanging GitHub's authorization code");
        }
        // GitHub answers 200 with an "error" for a used, expired or foreign code, and for wrong client credentials.
        if (!string.IsNullOrEmpty(token.Error) || string.IsNullOrEmpty(token.AccessToken))
            throw token.Error == "incorrect_client_credentials"
                ? new ProblemException(503, "github_not_configured", $"GitHub refused the App's client id or secret ({ClientIdSetting}, {ClientSecretSetting}).")
                : new ProblemException(403, "installation_unverified",
                    "GitHub did not accept the authorization (its code works once and for ten minutes). Start again from SelfTune.");
        try
        {
            var user = CreateClient(GitHubClientFactory.ApiRoot(o.ApiBaseUrl), new Credentials(token.AccessToken, AuthenticationType.Bearer));
            var listed = await user.GitHubApps.GetAllInstallationsForCurrentUser();
            return listed.Installations
                .Select(i => new ReachableInstallation(i.Id, i.Account.Login,
                    i.TargetType.StringValue is { Length: > 0 } t ? t : i.Account.Type?.ToString() ?? "User"))
                .ToList();
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, "listing the installations your GitHub account can access");
        }
    }

    public static ProblemException NotConfigured() =>
        new(503, "github_not_configured",
            $"GitHub's user authorization is not configured: set {ClientIdSetting} and {ClientSecretSetting} (the App's client id and a client secret).");

    /// <summary>A client on the "github" HttpClient pipeline (retries, timeouts) with its own credentials.</summary>
    GitHubClient CreateClient(Uri baseAddress, Credentials credentials) =>
        new(new Connection(new Octokit.ProductHeaderValue(GitHubClientFactory.ProductName), baseAddress, new InMemoryCredentialStore(credentials),
            new HttpClientAdapter(() => handlers.CreateHandler(GitHubClientFactory.HttpClientName)), new SimpleJsonSerializer()));
}
