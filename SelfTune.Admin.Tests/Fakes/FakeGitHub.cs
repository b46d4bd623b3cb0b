using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SelfTune.Admin.Tests.Fakes;

/// <summary>
/// A stateful fake of github.com + the GitHub REST API (GitHub Enterprise layout: API under
/// {BaseUrl}api/v3/, web pages under {BaseUrl}) on a real Kestrel port, answering with GitHub's
/// JSON shapes so that real Octokit clients work against it.
/// <code>
/// await using var gh = await FakeGitHub.StartAsync();
/// var inst = gh.AddInstallation("acme");
/// var repo = gh.AddRepo(inst, "acme", "skills");
/// var sha = gh.PushCommit(repo, "main", new Dictionary&lt;string, byte[]&gt; { ["SKILL.md"] = bytes });
/// // product config: GitHub:ApiBaseUrl = GitHub:WebBaseUrl = gh.BaseUrl, GitHub:AppId = gh.AppId,
/// // GitHub:PrivateKey = gh.PrivateKeyPem, GitHub:WebhookSecret = gh.WebhookSecret, GitHub:AppSlug = gh.AppSlug
/// var req = gh.CreateWebhookRequest(new Uri(app, "api/v1/github/webhook"), "push", gh.Payloads.Push(repo, "main"));
/// </code>
/// Deviations: repositories are reachable only through installations that hold them (even public ones);
/// /tags is ordered by name descending; the codeload URL pins the resolved commit SHA.
/// </summary>
public sealed partial class FakeGitHub : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly RSA _rsa;
    private readonly RsaSecurityKey _publicKey;
    private readonly CancellationTokenSource _shutdown = new();
    private WebApplication? _app;

    private readonly Dictionary<long, FakeInstallation> _installations = new();
    private readonly Dictionary<long, FakeRepo> _repos = new();
    private readonly Dictionary<string, (long Id, string Type)> _accounts = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, IssuedToken> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CodeloadTicket> _codeload = new(StringComparer.Ordinal);
    private readonly HashSet<string> _manifestCodes = new(StringComparer.Ordinal);
    private readonly List<FakeCheckRun> _checkRuns = new();
    private readonly List<FakeCommitStatus> _statuses = new();
    private readonly Dictionary<(long RepoId, string Sha), long> _checkSuites = new();
    private readonly List<FakeRequest> _requests = new();
    private readonly List<Fault> _faults = new();
    private readonly List<Exception> _errors = new();

    private long _nextInstallationId = 10_000_001;
    private long _nextRepoId = 100_000_001;
    private long _nextAccountId = 5_001;
    private long _nextCheckRunId = 3_000_000_001;
    private long _nextCheckSuiteId = 4_000_000_001;
    private long _nextStatusId = 7_000_000_001;
    private int _tokensIssued;
    private TimeSpan _tokenLifetime = TimeSpan.FromHours(1);
    private Uri? _setupUrl;
    private FakeInstallation? _nextInstallForBrowser;
    private bool _tarballRedirects = true;

    private FakeGitHub()
    {
        _rsa = RSA.Create(2048);
        _publicKey = new RsaSecurityKey(_rsa.ExportParameters(includePrivateParameters: false));
        PrivateKeyPem = _rsa.ExportRSAPrivateKeyPem();
        WebhookSecret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        ClientId = "Iv23li" + RandomString(14);
        AppCreatedAt = DateTimeOffset.UtcNow.AddDays(-30).Truncate();
    }

    // ---------------------------------------------------------------- App identity

    public long AppId { get; } = 424242;
    public string AppSlug { get; } = "selftune-test";
    public string AppName { get; } = "SelfTune Test";
    public string AppOwnerLogin { get; } = "selftune-dev";
    public string ClientId { get; }
    /// <summary>PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), like the key GitHub lets you download.</summary>
    public string PrivateKeyPem { get; }
    public string WebhookSecret { get; }
    internal DateTimeOffset AppCreatedAt { get; }

    /// <summary>Root of the fake, e.g. http://127.0.0.1:PORT/ (use for GitHub:ApiBaseUrl and GitHub:WebBaseUrl).</summary>
    public Uri BaseUrl { get; private set; } = null!;
    /// <summary>{BaseUrl}api/v3/, where Octokit sends requests when given <see cref="BaseUrl"/>.</summary>
    public Uri ApiUrl => new(BaseUrl, "api/v3/");

    // ---------------------------------------------------------------- Knobs

    /// <summary>Lifetime of newly issued installation tokens (default 1 h).</summary>
    public TimeSpan TokenLifetime { get { lock (_gate) return _tokenLifetime; } set { lock (_gate) _tokenLifetime = value; } }

    /// <summary>Where /apps/{slug}/installations/new sends the browser (the product's absolute /settings/github URL).</summary>
    public Uri? SetupUrl { get { lock (_gate) return _setupUrl; } set { lock (_gate) _setupUrl = value; } }

    /// <summary>The installation the simulated browser install "creates"/returns.</summary>
    public FakeInstallation? NextInstallForBrowser { get { lock (_gate) return _nextInstallForBrowser; } set { lock (_gate) _nextInstallForBrowser = value; } }

    /// <summary>true (default): /tarball/{ref} answers 302 to /_codeload/...; false: answers 200 with the archive.</summary>
    public bool TarballRedirects { get { lock (_gate) return _tarballRedirects; } set { lock (_gate) _tarballRedirects = value; } }

    // ---------------------------------------------------------------- Lifecycle

    public static async Task<FakeGitHub> StartAsync()
    {
        var fake = new FakeGitHub();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            EnvironmentName = "Production",
            ApplicationName = typeof(FakeGitHub).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseSetting(WebHostDefaults.PreventHostingStartupKey, "true");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Limits.MaxRequestBodySize = 50 * 1024 * 1024;
        });
        builder.Services.Configure<Microsoft.Extensions.Hosting.HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        var app = builder.Build();
        app.Run(fake.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake.BaseUrl = new Uri(address.TrimEnd('/') + "/");
        fake._app = app;
        return fake;
    }

    public async ValueTask DisposeAsync()
    {
        _shutdown.Cancel();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        _rsa.Dispose();
        _shutdown.Dispose();
    }

    // ---------------------------------------------------------------- State API

    internal static Dictionary<string, string> DefaultPermissions(bool checksWrite, bool statusesWrite)
    {
        var p = new Dictionary<string, string>(StringComparer.Ordinal) { ["contents"] = "read", ["metadata"] = "read" };
        if (checksWrite) p["checks"] = "write";
        if (statusesWrite) p["statuses"] = "write";
        return p;
    }

    /// <summary>
    /// An installation that already exists on GitHub: created (and last updated) <paramref name="createdAt"/>, by default
    /// a day ago. GitHub bumps updated_at when a user installs or configures it through the install page: the browser
    /// install (<see cref="NextInstallForBrowser"/>) does that, or <see cref="TouchInstallation"/> without a browser.
    /// </summary>
    public FakeInstallation AddInstallation(string accountLogin, string accountType = "Organization",
        bool checksWrite = true, bool statusesWrite = true, long? id = null, DateTimeOffset? createdAt = null)
    {
        if (accountType is not ("Organization" or "User")) throw new ArgumentException("Organization or User", nameof(accountType));
        lock (_gate)
        {
            var instId = id ?? _nextInstallationId++;
            if (_installations.ContainsKey(instId)) throw new InvalidOperationException($"Installation {instId} exists.");
            var account = Account(accountLogin, accountType);
            var inst = new FakeInstallation(_gate, instId, accountLogin, account.Id, account.Type,
                DefaultPermissions(checksWrite, statusesWrite), (createdAt ?? DateTimeOffset.UtcNow.AddDays(-1)).Truncate());
            _installations[instId] = inst;
            return inst;
        }
    }

    /// <summary>
    /// A user installed or configured <paramref name="inst"/> on GitHub's install/configure page (what the browser
    /// install does): its updated_at becomes <paramref name="at"/>, by default now (an earlier time back-dates the
    /// last configuration, e.g. "installed an hour ago").
    /// </summary>
    public void TouchInstallation(FakeInstallation inst, DateTimeOffset? at = null) => inst.Touch(at);

    /// <summary>Uninstalls the app: the installation answers 404 and its tokens stop working.</summary>
    public void RemoveInstallation(FakeInstallation inst)
    {
        lock (_gate)
        {
            inst.IsDeleted = true;
            _installations.Remove(inst.Id);
        }
    }

    public FakeRepo AddRepo(FakeInstallation inst, string owner, string name, string defaultBranch = "main",
        string visibility = "public", long? id = null)
    {
        lock (_gate)
        {
            var repoId = id ?? _nextRepoId++;
            if (_repos.ContainsKey(repoId)) throw new InvalidOperationException($"Repository {repoId} exists.");
            if (FindRepo(owner, name) is not null) throw new InvalidOperationException($"Repository {owner}/{name} exists.");
            Account(owner, string.Equals(owner, inst.AccountLogin, StringComparison.OrdinalIgnoreCase) ? inst.AccountType : "Organization");
            var repo = new FakeRepo(_gate, repoId, owner, name, defaultBranch, visibility, DateTimeOffset.UtcNow.AddDays(-7).Truncate());
            _repos[repoId] = repo;
            inst.RepoIds.Add(repoId);
            return repo;
        }
    }

    /// <summary>Webhook payload builders that agree with this fake's state.</summary>
    public FakeWebhookPayloads Payloads => _payloads ??= new FakeWebhookPayloads(this);
    private FakeWebhookPayloads? _payloads;

    /// <summary>Repos an installation reaches, by id.</summary>
    public IReadOnlyList<FakeRepo> ReposOf(FakeInstallation inst)
    {
        lock (_gate) return inst.RepoIds.Select(_repos.GetValueOrDefault).OfType<FakeRepo>().ToArray();
    }

    /// <summary>The first installation that reaches the repo, or null.</summary>
    public FakeInstallation? InstallationOf(FakeRepo repo)
    {
        lock (_gate) return _installations.Values.OrderBy(i => i.Id).FirstOrDefault(i => i.RepoIds.Contains(repo.Id));
    }

    public void AddRepoToInstallation(FakeInstallation inst, FakeRepo repo) { lock (_gate) inst.RepoIds.Add(repo.Id); }

    public void RemoveRepoFromInstallation(FakeInstallation inst, FakeRepo repo) { lock (_gate) inst.RepoIds.Remove(repo.Id); }

    /// <summary>Renames; the old name keeps working through GitHub's 301/307 redirect to /repositories/{id}.</summary>
    public void RenameRepo(FakeRepo repo, string newName)
    {
        lock (_gate)
        {
            repo.FormerFullNames.Add(repo.FullName);
            repo.Name = newName;
        }
    }

    /// <summary>Moves the repo to another owner (id unchanged). With <paramref name="toInstallation"/>,
    /// the repo leaves every installation and joins that one.</summary>
    public void TransferRepo(FakeRepo repo, string newOwner, FakeInstallation? toInstallation = null)
    {
        lock (_gate)
        {
            repo.FormerFullNames.Add(repo.FullName);
            Account(newOwner, toInstallation is not null && string.Equals(newOwner, toInstallation.AccountLogin, StringComparison.OrdinalIgnoreCase)
                ? toInstallation.AccountType : "Organization");
            repo.Owner = newOwner;
            if (toInstallation is not null)
            {
                foreach (var i in _installations.Values) i.RepoIds.Remove(repo.Id);
                toInstallation.RepoIds.Add(repo.Id);
            }
        }
    }

    /// <summary>
    /// Commits a FULL snapshot (<paramref name="files"/> replaces the whole tree; optional symlinks path → target)
    /// on top of the branch head and moves the branch. Returns the commit's 40-hex SHA (a real git SHA,
    /// deterministic from tree + parent + message), or <paramref name="sha"/> when given: for rules that depend on the
    /// SHA's characters (e.g. a sha7 of digits with a leading zero), which a real hash would need millions of tries to hit.
    /// </summary>
    public string PushCommit(FakeRepo repo, string branch, IDictionary<string, byte[]> files, string message = "Update skill",
        IDictionary<string, string>? symlinks = null, IEnumerable<string>? executables = null, string? sha = null)
    {
        var exec = new HashSet<string>((executables ?? []).Select(FakeGitObjects.NormalizePath), StringComparer.Ordinal);
        var snapshot = new SortedDictionary<string, FakeFile>(StringComparer.Ordinal);
        foreach (var (path, content) in files)
        {
            var p = FakeGitObjects.NormalizePath(path);
            snapshot[p] = new FakeFile(p, content.ToArray(), exec.Contains(p) ? FakeGitObjects.ExecutableMode : FakeGitObjects.FileMode, FakeGitObjects.BlobSha(content));
        }
        foreach (var (path, target) in symlinks ?? new Dictionary<string, string>())
        {
            var p = FakeGitObjects.NormalizePath(path);
            var bytes = Encoding.UTF8.GetBytes(target);
            snapshot[p] = new FakeFile(p, bytes, FakeGitObjects.SymlinkMode, FakeGitObjects.BlobSha(bytes));
        }
        return Commit(repo, branch, snapshot, message, sha);
    }

    /// <summary>Commits changes on top of the branch head: a null value deletes the path.</summary>
    public string PushChanges(FakeRepo repo, string branch, IDictionary<string, byte[]?> changes, string message = "Update skill")
    {
        lock (_gate)
        {
            var snapshot = new SortedDictionary<string, FakeFile>(StringComparer.Ordinal);
            if (repo.BranchMap.TryGetValue(branch, out var head))
                foreach (var (p, f) in repo.Commits[head].Files) snapshot[p] = f;
            foreach (var (path, content) in changes)
            {
                var p = FakeGitObjects.NormalizePath(path);
                if (content is null) snapshot.Remove(p);
                else snapshot[p] = new FakeFile(p, content.ToArray(), FakeGitObjects.FileMode, FakeGitObjects.BlobSha(content));
            }
            return Commit(repo, branch, snapshot, message);
        }
    }

    private string Commit(FakeRepo repo, string branch, SortedDictionary<string, FakeFile> snapshot, string message, string? chosenSha = null)
    {
        if (string.IsNullOrWhiteSpace(branch) || branch.StartsWith("refs/", StringComparison.Ordinal))
            throw new ArgumentException("Give a plain branch name.", nameof(branch));
        if (chosenSha is not null && (chosenSha.Length != 40 || !chosenSha.All(char.IsAsciiHexDigitLower)))
            throw new ArgumentException("A commit SHA is 40 lower-case hex characters.", nameof(chosenSha));
        lock (_gate)
        {
            repo.BranchMap.TryGetValue(branch, out var parent);
            var depth = 0;
            for (var p = parent; p is not null; p = repo.Commits[p].ParentSha) depth++;
            var date = DateTimeOffset.FromUnixTimeSeconds(1_704_067_200 + depth * 60L); // 2024-01-01 + 1 min per commit
            var treeSha = FakeGitObjects.BuildTrees(snapshot, repo.Trees);
            foreach (var f in snapshot.Values) repo.Blobs[f.BlobSha] = f.Content;
            var sha = chosenSha ?? FakeGitObjects.CommitSha(treeSha, parent, message, date);
            repo.Commits.TryAdd(sha, new FakeCommit(sha, treeSha, parent, message, date, snapshot));
            repo.BranchMap[branch] = sha;
            repo.PushedAt = DateTimeOffset.UtcNow.Truncate();
            return sha;
        }
    }

    /// <summary>Points a branch at an existing commit (creates or force-moves it).</summary>
    public void SetBranch(FakeRepo repo, string branch, string sha)
    {
        lock (_gate)
        {
            if (!repo.Commits.ContainsKey(sha)) throw new ArgumentException($"Unknown commit {sha}.", nameof(sha));
            repo.BranchMap[branch] = sha;
            repo.PushedAt = DateTimeOffset.UtcNow.Truncate();
        }
    }

    public void DeleteBranch(FakeRepo repo, string branch) { lock (_gate) repo.BranchMap.Remove(branch); }

    /// <summary>Lightweight tag; pushing an existing tag again moves it.</summary>
    public void PushTag(FakeRepo repo, string tag, string sha)
    {
        lock (_gate)
        {
            if (!repo.Commits.ContainsKey(sha)) throw new ArgumentException($"Unknown commit {sha}.", nameof(sha));
            repo.TagMap[tag] = sha;
            repo.PushedAt = DateTimeOffset.UtcNow.Truncate();
        }
    }

    public void DeleteTag(FakeRepo repo, string tag) { lock (_gate) repo.TagMap.Remove(tag); }

    /// <summary>Lets POST /app-manifests/{code}/conversions succeed once for this code.</summary>
    public void RegisterManifestCode(string code) { lock (_gate) _manifestCodes.Add(code); }

    /// <summary>Makes every issued installation token expired (clients must fetch a new one).</summary>
    public void ExpireAllTokens()
    {
        lock (_gate)
            foreach (var t in _tokens.Values) t.ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(-1);
    }

    // ---------------------------------------------------------------- Faults

    public Fault InjectFault(Fault fault) { lock (_gate) _faults.Add(fault); return fault; }

    public void ClearFaults() { lock (_gate) _faults.Clear(); }

    /// <summary>
    /// Asked about every request that no injected fault hit, with its method and path + query: a fault to apply to that
    /// request alone (its count is ignored), or null to answer normally. For randomized fault injection; it is called
    /// concurrently. <see cref="FaultKind.TruncatedTarball"/> is not supported here.
    /// </summary>
    public Func<string, string, Fault?>? FaultSelector { get { lock (_gate) return _faultSelector; } set { lock (_gate) _faultSelector = value; } }
    private Func<string, string, Fault?>? _faultSelector;

    private Fault? TakeFault(string method, string pathAndQuery, bool truncation)
    {
        lock (_gate)
        {
            foreach (var f in _faults)
            {
                if ((f.Kind == FaultKind.TruncatedTarball) != truncation) continue;
                if (f.Matches(method, pathAndQuery) && f.TryConsume()) return f;
            }
        }
        return truncation ? null : FaultSelector?.Invoke(method, pathAndQuery);
    }

    // ---------------------------------------------------------------- Observability

    public IReadOnlyList<FakeCheckRun> CheckRuns { get { lock (_gate) return _checkRuns.ToArray(); } }
    public IReadOnlyList<FakeCommitStatus> Statuses { get { lock (_gate) return _statuses.ToArray(); } }
    public IReadOnlyList<FakeRequest> RequestLog { get { lock (_gate) return _requests.ToArray(); } }
    /// <summary>Exceptions thrown inside the fake's handlers (answered 500); should stay empty.</summary>
    public IReadOnlyList<Exception> InternalErrors { get { lock (_gate) return _errors.ToArray(); } }
    public int InstallationTokensIssued { get { lock (_gate) return _tokensIssued; } }
    public IReadOnlyList<FakeInstallation> Installations { get { lock (_gate) return _installations.Values.ToArray(); } }
    public IReadOnlyList<FakeRepo> Repos { get { lock (_gate) return _repos.Values.ToArray(); } }

    /// <summary>Requests whose path+query contains the text (case-insensitive).</summary>
    public int CountRequests(string pathContains, string? method = null)
    {
        lock (_gate)
            return _requests.Count(r => (method is null || r.Method.Equals(method, StringComparison.OrdinalIgnoreCase))
                && (r.Path + r.Query).Contains(pathContains, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Requests that hit no route (404 from the router itself).</summary>
    public IReadOnlyList<FakeRequest> UnknownRouteRequests { get { lock (_gate) return _requests.Where(r => r.Unrouted).ToArray(); } }

    public void ClearRequestLog() { lock (_gate) _requests.Clear(); }

    // ---------------------------------------------------------------- JWT + webhooks helpers

    /// <summary>An App JWT as GitHub wants it (RS256, iss = AppId, iat 60 s ago, exp in 9 min), for tests.</summary>
    public string CreateAppJwt(DateTimeOffset? now = null, TimeSpan? lifetime = null, string? issuer = null)
    {
        var t = now ?? DateTimeOffset.UtcNow;
        var iat = t.AddSeconds(-60);
        var key = new RsaSecurityKey(_rsa.ExportParameters(true));
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? AppId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            IssuedAt = iat.UtcDateTime,
            Expires = iat.Add(lifetime ?? TimeSpan.FromMinutes(10)).UtcDateTime,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
        });
    }

    /// <summary>"sha256=" + hex HMAC-SHA256 of the body with <see cref="WebhookSecret"/>.</summary>
    public string SignWebhook(byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(WebhookSecret), body));

    /// <summary>A POST exactly like GitHub's webhook delivery (headers + signatures).</summary>
    public HttpRequestMessage CreateWebhookRequest(Uri target, string eventName, string payloadJson, string? deliveryId = null)
    {
        var body = Encoding.UTF8.GetBytes(payloadJson);
        var req = new HttpRequestMessage(HttpMethod.Post, target) { Content = new ByteArrayContent(body) };
        req.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        req.Headers.TryAddWithoutValidation("User-Agent", "GitHub-Hookshot/fake");
        req.Headers.Add("X-GitHub-Event", eventName);
        req.Headers.Add("X-GitHub-Delivery", deliveryId ?? Guid.NewGuid().ToString());
        req.Headers.Add("X-GitHub-Hook-ID", "123456789");
        req.Headers.Add("X-GitHub-Hook-Installation-Target-ID", AppId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        req.Headers.Add("X-GitHub-Hook-Installation-Target-Type", "integration");
        req.Headers.Add("X-Hub-Signature-256", SignWebhook(body));
        req.Headers.Add("X-Hub-Signature",
            "sha1=" + Convert.ToHexStringLower(HMACSHA1.HashData(Encoding.UTF8.GetBytes(WebhookSecret), body)));
        return req;
    }

    // ---------------------------------------------------------------- Internals

    private sealed class IssuedToken
    {
        public required string Token { get; init; }
        public required long InstallationId { get; init; }
        public required DateTimeOffset ExpiresAt { get; set; }
        public HashSet<long>? RepoIds { get; init; }
        public IReadOnlyDictionary<string, string>? Permissions { get; init; }
    }

    private sealed record CodeloadTicket(long RepoId, string Sha, bool Truncate, DateTimeOffset ExpiresAt);

    private (long Id, string Type) Account(string login, string typeHint)
    {
        lock (_gate)
        {
            if (_accounts.TryGetValue(login, out var a)) return a;
            return _accounts[login] = (_nextAccountId++, typeHint);
        }
    }

    private FakeRepo? FindRepo(string owner, string name)
    {
        foreach (var r in _repos.Values)
            if (string.Equals(r.Owner, owner, StringComparison.OrdinalIgnoreCase) && string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase))
                return r;
        return null;
    }

    private FakeRepo? FindFormerRepo(string owner, string name)
    {
        var full = owner + "/" + name;
        return _repos.Values.LastOrDefault(r => r.FormerFullNames.Contains(full, StringComparer.OrdinalIgnoreCase));
    }

    private static string RandomString(int length)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        return RandomNumberGenerator.GetString(alphabet, length);
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var method = ctx.Request.Method;
        var path = ctx.Request.Path.Value ?? "/";
        var query = ctx.Request.QueryString.Value ?? "";
        ctx.Items["auth"] = DescribeAuth(ctx.Request);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _shutdown.Token);
        var aborted = false;
        var reset = false;
        // Logged before the client can see the outcome (the response's headers leave, or the connection is reset): a test
        // that reads the log right after its call returned must find the call there, however loaded the machine is.
        var logged = 0;
        void Log(int status)
        {
            if (Interlocked.Exchange(ref logged, 1) != 0) return;
            var entry = new FakeRequest(method, path, query, status, ctx.Items["auth"] as string, DateTimeOffset.UtcNow, ctx.Items.ContainsKey("unrouted"));
            lock (_gate) _requests.Add(entry);
        }
        ctx.Items[LogBeforeReset] = (Action)(() => Log(0));
        ctx.Response.OnStarting(() =>
        {
            Log(ctx.Response.StatusCode);
            return Task.CompletedTask;
        });
        try
        {
            var fault = TakeFault(method, path + query, truncation: false);
            switch (fault?.Kind)
            {
                case null:
                    break;
                case FaultKind.Timeout:
                    await (fault.Until?.WaitAsync(cts.Token) ?? Task.Delay(fault.Delay, cts.Token));
                    break;
                case FaultKind.ActedThenServerError or FaultKind.ConnectionReset:
                    reset = fault.Kind == FaultKind.ConnectionReset;
                    if (reset && !fault.AfterActing) Reset(ctx);
                    else await ActThenLoseTheAnswerAsync(ctx, fault, cts.Token);
                    return;
                default:
                    await WriteFaultAsync(ctx, fault);
                    return;
            }
            await DispatchAsync(ctx, RawSegments(ctx), cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            aborted = true;
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            // The client hung up before its body had all arrived (it gave up on the request): aborted, as when it hangs
            // up while the fake waits, not an error of the fake's. Which of the two it is depends only on when the
            // hang-up lands (a run under random faults once saw it land during a check-run PATCH's body read).
            aborted = true;
        }
        catch (Exception ex)
        {
            lock (_gate) _errors.Add(ex);
            if (!ctx.Response.HasStarted)
                await WriteJsonAsync(ctx, 500, new System.Text.Json.Nodes.JsonObject { ["message"] = "FakeGitHub internal error: " + ex.Message });
        }
        finally
        {
            Log(reset ? 0 : aborted ? 499 : ctx.Response.StatusCode);
        }
    }

    private const string LogBeforeReset = "log-before-reset";

    /// <summary>Resets the connection, logging the request first (status 0): the client sees the reset at once.</summary>
    private static void Reset(HttpContext ctx)
    {
        ((Action)ctx.Items[LogBeforeReset]!)();
        ctx.Abort();
    }

    private static string? DescribeAuth(HttpRequest req)
    {
        var h = req.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(h)) return null;
        var value = h.Contains(' ') ? h[(h.IndexOf(' ') + 1)..] : h;
        return value.StartsWith("ghs_", StringComparison.Ordinal) ? "installation" : value.StartsWith("ghu_", StringComparison.Ordinal) ? "user"
            : value.StartsWith("ey", StringComparison.Ordinal) ? "jwt" : "other";
    }

    /// <summary>Path segments from the raw target, each unescaped (so %2F inside a segment stays inside it).</summary>
    private static string[] RawSegments(HttpContext ctx)
    {
        var raw = ctx.Features.Get<IHttpRequestFeature>()?.RawTarget ?? ctx.Request.Path.Value ?? "/";
        var q = raw.IndexOf('?');
        if (q >= 0) raw = raw[..q];
        return raw.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
    }

    /// <summary>
    /// Carries the request out (its effects stay), then drops its answer: a 5xx goes back instead, or the connection is
    /// reset. The client cannot tell this from a request GitHub never saw.
    /// </summary>
    private async Task ActThenLoseTheAnswerAsync(HttpContext ctx, Fault fault, CancellationToken ct)
    {
        var answer = ctx.Response.Body;
        using (var discarded = new MemoryStream())
        {
            ctx.Response.Body = discarded;
            try { await DispatchAsync(ctx, RawSegments(ctx), ct); }
            finally { ctx.Response.Body = answer; }
        }
        if (fault.Kind == FaultKind.ConnectionReset)
        {
            Reset(ctx);
            return;
        }
        ctx.Response.Clear();
        await WriteJsonAsync(ctx, fault.StatusCode, new System.Text.Json.Nodes.JsonObject { ["message"] = "Server Error" });
    }

    private async Task WriteFaultAsync(HttpContext ctx, Fault fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.ServerError:
                await WriteJsonAsync(ctx, fault.StatusCode, new System.Text.Json.Nodes.JsonObject { ["message"] = "Server Error" });
                break;
            case FaultKind.SecondaryRateLimit:
                ctx.Response.Headers["Retry-After"] = fault.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await WriteJsonAsync(ctx, fault.StatusCode, Error(
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0000.",
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits", fault.StatusCode));
                break;
            case FaultKind.PrimaryRateLimit:
                var reset = DateTimeOffset.UtcNow.AddSeconds(fault.ResetInSeconds).ToUnixTimeSeconds();
                ctx.Response.Headers["x-ratelimit-limit"] = "5000";
                ctx.Response.Headers["x-ratelimit-remaining"] = "0";
                ctx.Response.Headers["x-ratelimit-used"] = "5000";
                ctx.Response.Headers["x-ratelimit-reset"] = reset.ToString(System.Globalization.CultureInfo.InvariantCulture);
                ctx.Response.Headers["x-ratelimit-resource"] = "core";
                await WriteJsonAsync(ctx, fault.StatusCode, Error(
                    "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID FAKE:0000:0001.",
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", fault.StatusCode));
                break;
            default:
                throw new InvalidOperationException(fault.Kind.ToString());
        }
    }

    // ---------------------------------------------------------------- Auth

    private static string? BearerValue(HttpRequest req)
    {
        var h = req.Headers.Authorization.ToString();
        foreach (var scheme in new[] { "Bearer ", "token " })
            if (h.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return h[scheme.Length..].Trim();
        return null;
    }

    /// <summary>Validates the App JWT; on failure writes GitHub's 401 and returns false.</summary>
    private async Task<bool> RequireAppJwtAsync(HttpContext ctx)
    {
        var error = await ValidateAppJwtAsync(BearerValue(ctx.Request));
        if (error is null) return true;
        await WriteJsonAsync(ctx, 401, Error(error, "https://docs.github.com/rest"));
        return false;
    }

    private async Task<string?> ValidateAppJwtAsync(string? jwt)
    {
        const string undecodable = "A JSON web token could not be decoded";
        if (string.IsNullOrEmpty(jwt) || jwt.Count(c => c == '.') != 2) return undecodable;
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            IssuerSigningKey = _publicKey,
            ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
            ValidateIssuer = false,
            ValidateAudience = false,
            ValidateLifetime = false,
            RequireExpirationTime = false,
            RequireSignedTokens = true,
        });
        if (!result.IsValid) return undecodable;

        // claims checked by hand: iss may be a number or a string
        using var payload = JsonDocument.Parse(Base64UrlEncoder.Decode(jwt.Split('.')[1]));
        var root = payload.RootElement;
        var iss = root.TryGetProperty("iss", out var i) ? i.ValueKind == JsonValueKind.Number ? i.GetRawText() : i.GetString() : null;
        if (iss != AppId.ToString(System.Globalization.CultureInfo.InvariantCulture)) return undecodable;
        if (!root.TryGetProperty("iat", out var iatEl) || iatEl.ValueKind != JsonValueKind.Number)
            return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
        if (!root.TryGetProperty("exp", out var expEl) || expEl.ValueKind != JsonValueKind.Number)
            return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        long iat = (long)iatEl.GetDouble(), exp = (long)expEl.GetDouble();
        const long skew = 60;
        if (iat > now + skew)
            return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
        if (exp <= now - skew)
            return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
        if (exp - iat > 600 + skew || exp > now + 600 + skew)
            return "'Expiration time' claim ('exp') is too far in the future.";
        return null;
    }

    /// <summary>Validates an installation token; on failure writes 401/403 and returns null.</summary>
    private async Task<(IssuedToken Token, FakeInstallation Installation)?> RequireInstallationTokenAsync(HttpContext ctx)
    {
        var value = BearerValue(ctx.Request);
        if (value is null)
        {
            await WriteJsonAsync(ctx, 401, Error("Requires authentication", "https://docs.github.com/rest"));
            return null;
        }
        IssuedToken? token;
        FakeInstallation? inst = null;
        lock (_gate)
        {
            if (_tokens.TryGetValue(value, out token) && token.ExpiresAt > DateTimeOffset.UtcNow)
                _installations.TryGetValue(token.InstallationId, out inst);
        }
        if (token is null || inst is null || inst.IsDeleted || token.ExpiresAt <= DateTimeOffset.UtcNow)
        {
            await WriteJsonAsync(ctx, 401, Error("Bad credentials", "https://docs.github.com/rest"));
            return null;
        }
        if (inst.Suspended)
        {
            await WriteJsonAsync(ctx, 403, Error("This installation has been suspended", "https://docs.github.com/rest"));
            return null;
        }
        return (token, inst);
    }
}

internal static class FakeTimeExtensions
{
    /// <summary>Drops sub-second precision (GitHub timestamps have whole seconds).</summary>
    public static DateTimeOffset Truncate(this DateTimeOffset d) => DateTimeOffset.FromUnixTimeSeconds(d.ToUnixTimeSeconds());
}
