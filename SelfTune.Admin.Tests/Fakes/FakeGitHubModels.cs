namespace SelfTune.Admin.Tests.Fakes;

/// <summary>A GitHub App installation held by <see cref="FakeGitHub"/>. All members are thread-safe.</summary>
public sealed class FakeInstallation
{
    private readonly object _gate;
    private Dictionary<string, string> _permissions;
    private bool _suspended;
    private DateTimeOffset? _suspendedAt;
    private string _repositorySelection = "all";
    private IReadOnlyList<string> _events = ["create", "pull_request", "push", "repository"];
    private DateTimeOffset _updatedAt;
    private bool _deleted;

    internal FakeInstallation(object gate, long id, string login, long accountId, string accountType,
        Dictionary<string, string> permissions, DateTimeOffset createdAt)
    {
        _gate = gate;
        Id = id;
        AccountLogin = login;
        AccountId = accountId;
        AccountType = accountType;
        _permissions = permissions;
        CreatedAt = createdAt;
        _updatedAt = createdAt;
    }

    public long Id { get; }
    public string AccountLogin { get; }
    public long AccountId { get; }
    /// <summary>"Organization" or "User".</summary>
    public string AccountType { get; }
    public DateTimeOffset CreatedAt { get; }
    public DateTimeOffset UpdatedAt { get { lock (_gate) return _updatedAt; } }

    /// <summary>Suspended installations get 403 on token creation and on token use.</summary>
    public bool Suspended
    {
        get { lock (_gate) return _suspended; }
        set
        {
            lock (_gate)
            {
                if (_suspended == value) return;
                _suspended = value;
                _suspendedAt = value ? DateTimeOffset.UtcNow : null;
                _updatedAt = DateTimeOffset.UtcNow;
            }
        }
    }

    public DateTimeOffset? SuspendedAt { get { lock (_gate) return _suspendedAt; } }

    /// <summary>"all" or "selected".</summary>
    public string RepositorySelection
    {
        get { lock (_gate) return _repositorySelection; }
        set { lock (_gate) _repositorySelection = value; }
    }

    public IReadOnlyList<string> Events
    {
        get { lock (_gate) return _events; }
        set { lock (_gate) _events = value.ToArray(); }
    }

    /// <summary>True after <see cref="FakeGitHub.RemoveInstallation"/> (the app was uninstalled).</summary>
    public bool IsDeleted
    {
        get { lock (_gate) return _deleted; }
        internal set { lock (_gate) _deleted = value; }
    }

    /// <summary>Snapshot, e.g. {"contents":"read","metadata":"read","checks":"write"}.</summary>
    public IReadOnlyDictionary<string, string> Permissions
    {
        get { lock (_gate) return new SortedDictionary<string, string>(_permissions, StringComparer.Ordinal); }
    }

    public void SetPermissions(bool checksWrite, bool statusesWrite) =>
        SetPermissions(FakeGitHub.DefaultPermissions(checksWrite, statusesWrite));

    public void SetPermissions(IReadOnlyDictionary<string, string> permissions)
    {
        lock (_gate)
        {
            _permissions = new Dictionary<string, string>(permissions, StringComparer.Ordinal);
            _updatedAt = DateTimeOffset.UtcNow;
        }
    }

    /// <summary>GitHub bumps updated_at when the installation is installed or configured on its page.</summary>
    internal void Touch(DateTimeOffset? at = null)
    {
        lock (_gate) _updatedAt = (at ?? DateTimeOffset.UtcNow).Truncate();
    }

    internal bool Has(string permission, string level)
    {
        lock (_gate)
        {
            if (!_permissions.TryGetValue(permission, out var granted)) return false;
            return level == "read" ? granted is "read" or "write" or "admin" : granted is "write" or "admin";
        }
    }

    /// <summary>Repository ids this installation reaches (guarded by the fake's gate).</summary>
    internal readonly SortedSet<long> RepoIds = new();

    public override string ToString() => $"installation {Id} ({AccountLogin})";
}

/// <summary>A repository held by <see cref="FakeGitHub"/>. Mutate it through the fake's methods.</summary>
public sealed class FakeRepo
{
    private readonly object _gate;
    private string _owner;
    private string _name;
    private string _defaultBranch;
    private string _visibility;
    private string? _description;
    private bool _archived;
    private DateTimeOffset _updatedAt;
    private DateTimeOffset? _pushedAt;

    internal FakeRepo(object gate, long id, string owner, string name, string defaultBranch, string visibility, DateTimeOffset createdAt)
    {
        _gate = gate;
        Id = id;
        _owner = owner;
        _name = name;
        _defaultBranch = defaultBranch;
        _visibility = visibility;
        CreatedAt = createdAt;
        _updatedAt = createdAt;
    }

    public long Id { get; }
    public string Owner { get { lock (_gate) return _owner; } internal set { lock (_gate) { _owner = value; _updatedAt = DateTimeOffset.UtcNow; } } }
    public string Name { get { lock (_gate) return _name; } internal set { lock (_gate) { _name = value; _updatedAt = DateTimeOffset.UtcNow; } } }
    public string FullName { get { lock (_gate) return _owner + "/" + _name; } }

    /// <summary>Settable; GitHub would send a repository.edited webhook (build it with FakeWebhookPayloads).</summary>
    public string DefaultBranch { get { lock (_gate) return _defaultBranch; } set { lock (_gate) { _defaultBranch = value; _updatedAt = DateTimeOffset.UtcNow; } } }

    /// <summary>"public", "private" or "internal".</summary>
    public string Visibility { get { lock (_gate) return _visibility; } set { lock (_gate) _visibility = value; } }
    public bool Private => Visibility != "public";
    public string? Description { get { lock (_gate) return _description; } set { lock (_gate) _description = value; } }
    public bool Archived { get { lock (_gate) return _archived; } set { lock (_gate) _archived = value; } }
    public DateTimeOffset CreatedAt { get; }
    public DateTimeOffset UpdatedAt { get { lock (_gate) return _updatedAt; } }
    public DateTimeOffset? PushedAt { get { lock (_gate) return _pushedAt; } internal set { lock (_gate) _pushedAt = value; } }

    /// <summary>Snapshot: branch name → head SHA.</summary>
    public IReadOnlyDictionary<string, string> Branches { get { lock (_gate) return new Dictionary<string, string>(BranchMap); } }
    /// <summary>Snapshot: tag name → commit SHA.</summary>
    public IReadOnlyDictionary<string, string> Tags { get { lock (_gate) return new Dictionary<string, string>(TagMap); } }

    /// <summary>Commit by full SHA, or null.</summary>
    public FakeCommit? GetCommit(string sha) { lock (_gate) return Commits.GetValueOrDefault(sha); }

    // Guarded by the fake's gate.
    internal readonly Dictionary<string, string> BranchMap = new(StringComparer.Ordinal);
    internal readonly Dictionary<string, string> TagMap = new(StringComparer.Ordinal);
    internal readonly Dictionary<string, FakeCommit> Commits = new(StringComparer.Ordinal);
    internal readonly Dictionary<string, FakeTree> Trees = new(StringComparer.Ordinal);
    internal readonly Dictionary<string, byte[]> Blobs = new(StringComparer.Ordinal);
    internal readonly List<string> FormerFullNames = new();

    public override string ToString() => FullName;
}

/// <summary>A file of a commit snapshot. Mode "100644" (file), "100755" (executable) or "120000" (symlink; Content = target).</summary>
public sealed record FakeFile(string Path, byte[] Content, string Mode, string BlobSha)
{
    public bool IsSymlink => Mode == "120000";
    public string? SymlinkTarget => IsSymlink ? System.Text.Encoding.UTF8.GetString(Content) : null;
}

/// <summary>An immutable commit with a full tree snapshot.</summary>
public sealed class FakeCommit
{
    internal FakeCommit(string sha, string treeSha, string? parentSha, string message, DateTimeOffset date, IReadOnlyDictionary<string, FakeFile> files)
    {
        Sha = sha;
        TreeSha = treeSha;
        ParentSha = parentSha;
        Message = message;
        Date = date;
        Files = files;
    }

    public string Sha { get; }
    public string TreeSha { get; }
    public string? ParentSha { get; }
    public string Message { get; }
    public DateTimeOffset Date { get; }
    /// <summary>Path (POSIX, relative to repo root) → file; sorted ordinally.</summary>
    public IReadOnlyDictionary<string, FakeFile> Files { get; }
    public const string AuthorName = "Fake Developer";
    public const string AuthorEmail = "dev@example.com";
}

internal sealed record FakeTreeEntry(string Name, string Mode, string Type, string Sha, long Size);

internal sealed record FakeTree(string Sha, IReadOnlyList<FakeTreeEntry> Entries);

/// <summary>Snapshot of a check run as last written by the client.</summary>
public sealed record FakeCheckRun(
    long Id,
    long RepoId,
    string RepoFullName,
    long InstallationId,
    string HeadSha,
    string Name,
    string Status,
    string? Conclusion,
    string? Title,
    string? Summary,
    string? Text,
    string? DetailsUrl,
    string? ExternalId,
    DateTimeOffset StartedAt,
    DateTimeOffset? CompletedAt,
    long CheckSuiteId,
    IReadOnlyList<string> StatusHistory,
    int UpdateCount);

/// <summary>A commit status as created by the client.</summary>
public sealed record FakeCommitStatus(
    long Id,
    long RepoId,
    string RepoFullName,
    long InstallationId,
    string Sha,
    string State,
    string Context,
    string? Description,
    string? TargetUrl,
    DateTimeOffset CreatedAt);

/// <summary>One request the fake answered. Path includes the /api/v3 prefix; Query includes '?'.
/// Auth: null, "jwt", "installation" or "other"; StatusCode 499 when the client went away, 0 when the fake dropped the
/// connection (<see cref="FaultKind.ConnectionReset"/>); Unrouted: no route matched.</summary>
public sealed record FakeRequest(string Method, string Path, string Query, int StatusCode, string? Auth, DateTimeOffset At, bool Unrouted)
{
    public override string ToString() => $"{Method} {Path}{Query} -> {StatusCode}{(Unrouted ? " (no route)" : "")}";
}

public enum FaultKind { ServerError, SecondaryRateLimit, PrimaryRateLimit, Timeout, TruncatedTarball, ActedThenServerError, ConnectionReset }

/// <summary>A fault applied to the next N requests whose path+query contains <see cref="PathContains"/>.</summary>
public sealed class Fault
{
    private int _remaining;

    private Fault(FaultKind kind, string pathContains, int times)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathContains);
        ArgumentOutOfRangeException.ThrowIfLessThan(times, 1);
        Kind = kind;
        PathContains = pathContains;
        _remaining = times;
    }

    public FaultKind Kind { get; }
    public string PathContains { get; }
    /// <summary>Optional HTTP method filter (e.g. "POST"); null matches any.</summary>
    public string? Method { get; private init; }
    public int StatusCode { get; private init; }
    public int RetryAfterSeconds { get; private init; }
    public int ResetInSeconds { get; private init; }
    public TimeSpan Delay { get; private init; }
    /// <summary>For <see cref="FaultKind.ConnectionReset"/>: the request was carried out before the connection dropped.</summary>
    public bool AfterActing { get; private init; }
    /// <summary>For <see cref="Hold"/>: the request waits until this task completes.</summary>
    public Task? Until { get; private init; }
    /// <summary>How many more requests this fault will hit.</summary>
    public int Remaining => Volatile.Read(ref _remaining);

    /// <summary>5xx with {"message":"Server Error"}.</summary>
    public static Fault ServerError(string pathContains, int times = 1, int statusCode = 500) =>
        new(FaultKind.ServerError, pathContains, times) { StatusCode = statusCode };

    /// <summary>
    /// 403 (or 429) + Retry-After + "You have exceeded a secondary rate limit..." (Octokit: SecondaryRateLimitExceededException
    /// on 403, a plain ApiException on 429). GitHub refuses the request: nothing is done.
    /// </summary>
    public static Fault SecondaryRateLimit(string pathContains, int retryAfterSeconds = 1, int times = 1, int statusCode = 403) =>
        new(FaultKind.SecondaryRateLimit, pathContains, times) { StatusCode = statusCode, RetryAfterSeconds = retryAfterSeconds };

    /// <summary>403 (or 429) with x-ratelimit-remaining: 0 and x-ratelimit-reset = now + resetInSeconds (Octokit: RateLimitExceededException on 403).</summary>
    public static Fault PrimaryRateLimit(string pathContains, int resetInSeconds = 1, int times = 1, int statusCode = 403) =>
        new(FaultKind.PrimaryRateLimit, pathContains, times) { StatusCode = statusCode, ResetInSeconds = resetInSeconds };

    /// <summary>Waits <paramref name="delay"/> before answering normally (or until the client gives up).</summary>
    public static Fault Timeout(string pathContains, TimeSpan delay, int times = 1) =>
        new(FaultKind.Timeout, pathContains, times) { Delay = delay };

    /// <summary>Holds the request until <paramref name="until"/> completes, then answers normally: lets a test see a long
    /// action in progress without waiting a fixed time.</summary>
    public static Fault Hold(string pathContains, Task until, int times = 1) =>
        new(FaultKind.Timeout, pathContains, times) { Until = until };

    /// <summary>
    /// GitHub carries the request out (a POST creates its check run or status), then the client gets a 5xx instead of the
    /// answer: what a proxy timeout or an internal error after the write looks like from outside.
    /// </summary>
    public static Fault ActedThenServerError(string pathContains, int times = 1, int statusCode = 502) =>
        new(FaultKind.ActedThenServerError, pathContains, times) { StatusCode = statusCode };

    /// <summary>
    /// The connection is dropped without an answer: before anything is done, or with <paramref name="afterActing"/> after
    /// the request was carried out (the client cannot tell which).
    /// </summary>
    public static Fault ConnectionReset(string pathContains, int times = 1, bool afterActing = false) =>
        new(FaultKind.ConnectionReset, pathContains, times) { AfterActing = afterActing };

    /// <summary>Sends half of the tarball (Content-Length of the whole) and aborts the connection.
    /// Matched against the API path (…/tarball/…) and the codeload path (/_codeload/…).</summary>
    public static Fault TruncatedTarball(string pathContains = "tarball", int times = 1) =>
        new(FaultKind.TruncatedTarball, pathContains, times);

    /// <summary>Restricts the fault to one HTTP method.</summary>
    public Fault ForMethod(string method) => new(Kind, PathContains, Remaining)
    {
        Method = method.ToUpperInvariant(),
        StatusCode = StatusCode,
        RetryAfterSeconds = RetryAfterSeconds,
        ResetInSeconds = ResetInSeconds,
        Delay = Delay,
        Until = Until,
        AfterActing = AfterActing,
    };

    internal bool Matches(string method, string pathAndQuery) =>
        Remaining > 0
        && (Method is null || Method == method)
        && pathAndQuery.Contains(PathContains, StringComparison.OrdinalIgnoreCase);

    /// <summary>Consumes one hit; false when already used up.</summary>
    internal bool TryConsume()
    {
        while (true)
        {
            var current = Volatile.Read(ref _remaining);
            if (current <= 0) return false;
            if (Interlocked.CompareExchange(ref _remaining, current - 1, current) == current) return true;
        }
    }

    public override string ToString() => $"{Kind} '{PathContains}' x{Remaining}";
}
