using System.Net;
using System.Net.Http.Headers;
using Octokit;
using Octokit.Internal;

namespace SelfTune.Admin.GitHub.Client;

/// <summary>An installation access token and when GitHub says it expires.</summary>
public sealed record GitHubInstallationToken(string Token, DateTimeOffset ExpiresAt)
{
    public override string ToString() => $"GitHubInstallationToken {{ ExpiresAt = {ExpiresAt:O} }}";
}

/// <summary>Creates authenticated Octokit clients for the GitHub App and its installations.</summary>
public interface IGitHubClientFactory
{
    /// <summary>A client authenticated as the App (JWT); for /app/... endpoints.</summary>
    Task<IGitHubClient> CreateAppClientAsync(CancellationToken ct);

    /// <summary>A client authenticated as an installation; refreshes its token as it nears expiry.</summary>
    Task<IGitHubClient> CreateInstallationClientAsync(long installationId, CancellationToken ct);

    /// <summary>A (cached) installation access token.</summary>
    Task<GitHubInstallationToken> GetInstallationTokenAsync(long installationId, CancellationToken ct);

    /// <summary>Drops the cached token, e.g. after a 401 or when the installation is removed.</summary>
    void ForgetInstallationToken(long installationId);

    /// <summary>Streams the gzip tarball of <paramref name="sha"/>. The caller disposes the stream.</summary>
    Task<Stream> DownloadTarballAsync(long installationId, string owner, string repo, string sha, CancellationToken ct);
}

public sealed class GitHubClientFactory(
    IGitHubAppCredentialSource credentials,
    IOptionsMonitor<GitHubOptions> options,
    IHttpMessageHandlerFactory handlerFactory,
    IHttpClientFactory httpClientFactory,
    TimeProvider time) : IGitHubClientFactory
{
    /// <summary>Name of the HttpClient (and its resilience pipeline) used for all GitHub traffic.</summary>
    public const string HttpClientName = "github";

    public const string ProductName = "SelfTune-Admin";

    /// <summary>Cached tokens are replaced this long before GitHub's expiry so callers never get a nearly dead one.</summary>
    public static readonly TimeSpan TokenRefreshMargin = TimeSpan.FromMinutes(5);

    static readonly IJsonSerializer Serializer = new SimpleJsonSerializer();

    readonly Lock gate = new();
    readonly Dictionary<long, Task<GitHubInstallationToken>> tokens = new();

    public async Task<IGitHubClient> CreateAppClientAsync(CancellationToken ct)
    {
        await GetCredentialsAsync(ct); // fail fast with GitHubNotConfiguredException
        return CreateClient(new AppJwtCredentialStore(this));
    }

    public async Task<IGitHubClient> CreateInstallationClientAsync(long installationId, CancellationToken ct)
    {
        var token = await GetInstallationTokenAsync(installationId, ct);
        return CreateClient(new InstallationCredentialStore(this, installationId, token));
    }

    public Task<GitHubInstallationToken> GetInstallationTokenAsync(long installationId, CancellationToken ct)
    {
        Task<GitHubInstallationToken> task;
        lock (gate)
        {
            if (!tokens.TryGetValue(installationId, out task!) || !IsUsable(task))
            {
                // Task.Run: don't start the request while holding the lock. The request is shared by all
                // concurrent callers, so it must not be cancelled by any one caller's token.
                task = Task.Run(() => RequestInstallationTokenAsync(installationId));
                task.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                tokens[installationId] = task;
            }
        }
        return task.WaitAsync(ct);
    }

    /// <summary>The installation a cached token belongs to (for the rate-limit metric), or null.</summary>
    public long? InstallationOf(string? token)
    {
        if (string.IsNullOrEmpty(token)) return null;
        lock (gate)
            foreach (var (id, task) in tokens)
                if (task.IsCompletedSuccessfully && task.Result.Token == token) return id;
        return null;
    }

    public void ForgetInstallationToken(long installationId)
    {
        lock (gate) tokens.Remove(installationId);
    }

    public async Task<Stream> DownloadTarballAsync(long installationId, string owner, string repo, string sha, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentException.ThrowIfNullOrEmpty(repo);
        ArgumentException.ThrowIfNullOrEmpty(sha);

        // Octokit's GetArchive buffers the whole archive into a byte[], so use the same pipeline directly.
        var token = await GetInstallationTokenAsync(installationId, ct);
        var url = new Uri(ApiRoot(options.CurrentValue.ApiBaseUrl),
            $"repos/{Uri.EscapeDataString(owner)}/{Uri.EscapeDataString(repo)}/tarball/{Uri.EscapeDataString(sha)}");

        var http = httpClientFactory.CreateClient(HttpClientName);
        http.Timeout = options.CurrentValue.RequestBudget(); // covers retries; ends once headers arrive
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("token", token.Token);
        request.Headers.Accept.ParseAdd("application/vnd.github+json");
        request.Headers.UserAgent.Add(new System.Net.Http.Headers.ProductInfoHeaderValue(ProductName, null));
        request.Headers.Add("X-GitHub-Api-Version", "2022-11-28");

        // The 302 to codeload is followed by the primary handler, which drops Authorization on redirect;
        // the Location URL carries its own short-lived token.
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.IsSuccessStatusCode)
        {
            // Disposing the content stream releases the connection; the response holds nothing else.
            return await response.Content.ReadAsStreamAsync(ct);
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.Unauthorized) ForgetInstallationToken(installationId);
            var message = $"Downloading the tarball of {owner}/{repo}@{sha} from GitHub failed: " +
                          $"{(int)response.StatusCode} {response.ReasonPhrase}. {await ReadSnippetAsync(response, ct)}".TrimEnd();
            throw response.StatusCode == HttpStatusCode.NotFound
                ? new NotFoundException(message, response.StatusCode)
                : new ApiException(message, response.StatusCode);
        }
    }

    /// <summary>Where Octokit sends requests: api.github.com as is, otherwise GitHub Enterprise style <c>/api/v3/</c> (mirrors Octokit's GitHubClient).</summary>
    public static Uri ApiRoot(Uri apiBaseUrl)
    {
        ArgumentNullException.ThrowIfNull(apiBaseUrl);
        return apiBaseUrl.Host is "github.com" or "api.github.com"
            ? GitHubClient.GitHubApiUrl
            : new Uri(apiBaseUrl, new Uri("/api/v3/", UriKind.Relative));
    }

    internal async Task<GitHubAppCredentials> GetCredentialsAsync(CancellationToken ct) =>
        await credentials.GetAsync(ct) ?? throw new GitHubNotConfiguredException(options.CurrentValue.MissingSettings());

    internal DateTimeOffset UtcNow => time.GetUtcNow();

    internal async Task<string> CreateAppJwtAsync(CancellationToken ct) =>
        AppJwt.Create(await GetCredentialsAsync(ct), time);

    bool IsUsable(Task<GitHubInstallationToken> task) =>
        !task.IsCompleted // in flight: share it
        || (task.IsCompletedSuccessfully && task.Result.ExpiresAt - TokenRefreshMargin > time.GetUtcNow());

    async Task<GitHubInstallationToken> RequestInstallationTokenAsync(long installationId)
    {
        var app = await CreateAppClientAsync(CancellationToken.None);
        var token = await app.GitHubApps.CreateInstallationToken(installationId);
        return new GitHubInstallationToken(token.Token, token.ExpiresAt);
    }

    GitHubClient CreateClient(ICredentialStore credentialStore)
    {
        var o = options.CurrentValue;
        // The handler comes from IHttpClientFactory so the "github" resilience pipeline and handler pooling apply.
        var http = new BudgetedHttpClient(new HttpClientAdapter(() => handlerFactory.CreateHandler(HttpClientName)), o.RequestBudget());
        var connection = new Connection(new Octokit.ProductHeaderValue(ProductName), ApiRoot(o.ApiBaseUrl), credentialStore, http, Serializer);
        return new GitHubClient(connection);
    }

    static async Task<string> ReadSnippetAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var body = await response.Content.ReadAsStringAsync(ct);
            return body.Length > 500 ? body[..500] : body;
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return "";
        }
    }

    /// <summary>Mints a fresh App JWT per request, so long-lived app clients never hold an expired one.</summary>
    sealed class AppJwtCredentialStore(GitHubClientFactory factory) : ICredentialStore
    {
        public async Task<Credentials> GetCredentials() =>
            new(await factory.CreateAppJwtAsync(CancellationToken.None), AuthenticationType.Bearer);
    }

    /// <summary>Uses its token until shortly before expiry, then asks the factory (cache) for a current one.</summary>
    sealed class InstallationCredentialStore(GitHubClientFactory factory, long installationId, GitHubInstallationToken token)
        : ICredentialStore
    {
        static readonly TimeSpan ExpirySafety = TimeSpan.FromMinutes(1);
        GitHubInstallationToken latest = token;

        public async Task<Credentials> GetCredentials()
        {
            var current = latest;
            if (current.ExpiresAt - ExpirySafety <= factory.UtcNow)
            {
                current = await factory.GetInstallationTokenAsync(installationId, CancellationToken.None);
                latest = current;
            }
            return new Credentials(current.Token);
        }
    }

    /// <summary>
    /// Octokit caps every request at a fixed 100 s, which retries with long Retry-After waits can exceed;
    /// this raises the cap to the configured budget (attempt timeouts × attempts + retry waits).
    /// </summary>
    sealed class BudgetedHttpClient : IHttpClient
    {
        readonly IHttpClient inner;
        readonly TimeSpan budget;

        public BudgetedHttpClient(IHttpClient inner, TimeSpan budget)
        {
            this.inner = inner;
            this.budget = budget;
            inner.SetRequestTimeout(budget);
        }

        public Task<IResponse> Send(IRequest request, CancellationToken cancellationToken, Func<object, object>? preprocessResponseBody = null)
        {
            if (request is Request r && r.Timeout != TimeSpan.Zero && r.Timeout < budget) r.Timeout = budget;
            return inner.Send(request, cancellationToken, preprocessResponseBody!);
        }

        public void SetRequestTimeout(TimeSpan timeout) => inner.SetRequestTimeout(timeout);

        public void Dispose() => inner.Dispose();
    }
}
