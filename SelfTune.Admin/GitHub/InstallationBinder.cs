using Microsoft.AspNetCore.DataProtection;
using Octokit;

namespace SelfTune.Admin.GitHub;

public sealed record BindResult(GitHubInstallation Installation, bool Created);

/// <summary>
/// When GitHub created and last updated an installation (<c>GET /app/installations/{id}</c>); Octokit's
/// <see cref="Installation"/> lacks both.
/// </summary>
public sealed class InstallationTimes
{
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// Binds a GitHub App installation to an org (SPEC section 4). The installation id in GitHub's redirect can be spoofed,
/// so binding needs a signed, single-use <c>state</c> this org issued, and the stored account and permissions are the
/// ones GitHub reports for the id, never the caller's. Issuing a state and binding take the <see cref="Actor"/> and need an
/// admin or owner; reading and applying GitHub's view of an installation (webhooks) need no one.
/// </summary>
public sealed class InstallationBinder(IDbContextFactory<AdminDbContext> dbFactory, IDataProtectionProvider protection, IGitHubClientFactory github,
    Microsoft.Extensions.Options.IOptions<GitHubOptions> options, TimeProvider clock)
{
    public static readonly TimeSpan StateLifetime = TimeSpan.FromHours(1);
    /// <summary>How much earlier than the state GitHub may say an installation was created or updated (clock skew).</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(2);
    ITimeLimitedDataProtector Protector => protection.CreateProtector("SelfTune.GitHub.InstallState").ToTimeLimitedDataProtector();

    /// <summary>A fresh state for the install link: signed, naming a row that records org, user and expiry.</summary>
    public async Task<string> IssueStateAsync(Actor actor, CancellationToken ct)
    {
        actor.Require(MemberRole.Admin, "install the GitHub App");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var now = clock.GetUtcNow();
        var row = new InstallState { OrgId = actor.OrgId, IssuedTo = actor.Id, CreatedAt = now, ExpiresAt = now + StateLifetime };
        db.InstallStates.Add(row);
        await db.SaveChangesAsync(ct);
        return Protector.Protect(row.Id.ToString("N"), StateLifetime);
    }

    public async Task<BindResult> BindInstallationAsync(Actor actor, long installationId, string? expectedLogin, string? expectedType,
        string? state, CancellationToken ct)
    {
        // Before the state is looked at, so a refused caller cannot use it up.
        actor.Require(MemberRole.Admin, "bind installations");
        var orgId = actor.OrgId;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var existing = await db.Installations.SingleOrDefaultAsync(i => i.OrgId == orgId && i.InstallationId == installationId, ct);
        if (existing is not null && existing.DeletedAt is null) return new BindResult(existing, Created: false);

        var stateRow = state is null ? null : await VerifyStateAsync(db, orgId, state, ct);
        if (stateRow is null && !options.Value.TrustApiKeyBinding)
            throw Unverified("Binding an installation needs the 'state' from GitHub's redirect to /settings/github, issued to this org. " +
                             "Start the installation from SelfTune (the Install button or the install link) so GitHub returns one.");

        var (installation, times) = await FetchWithTimesAsync(installationId, ct);

        // GET /app/installations/{id} answers for every installation of the App, so a state alone does not tie the
        // installation to this org: an admin of another org could present its own fresh state with someone else's id.
        // GitHub creates or updates an installation exactly when a user goes through the install/configure page our
        // install link leads to, so with a state the installation must have been created or updated since the state
        // was issued. Checked before the account comparison, which would tell the caller whose installation it is.
        if (stateRow is not null)
        {
            var since = stateRow.CreatedAt - ClockSkew;
            if (times.CreatedAt < since && times.UpdatedAt < since)
                throw Unverified($"Installation {installationId} was not installed or configured through this installation link. " +
                                 "Start the installation from SelfTune and finish it on GitHub.");
        }

        var login = installation.Account.Login;
        var type = installation.TargetType.StringValue is { Length: > 0 } t ? t : installation.Account.Type?.ToString() ?? "User";
        var mismatches = new Dictionary<string, string[]>();
        if (expectedLogin is not null && !string.Equals(expectedLogin, login, StringComparison.OrdinalIgnoreCase))
            mismatches["account_login"] = [$"Installation {installationId} belongs to '{login}', not '{expectedLogin}'."];
        if (expectedType is not null && !string.Equals(expectedType, type, StringComparison.OrdinalIgnoreCase))
            mismatches["account_type"] = [$"Installation {installationId} is on a {type} account, not a {expectedType}."];
        if (mismatches.Count > 0) throw new ProblemException(422, "validation_failed", mismatches.Values.First()[0], mismatches);

        if (stateRow is not null)
        {
            // Consume the state only now, and only once even if two requests race with the same value.
            var now = clock.GetUtcNow();
            var consumed = await db.InstallStates.Where(s => s.Id == stateRow.Id && s.UsedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.UsedAt, now), ct);
            if (consumed == 0) throw Unverified("This installation link has already been used. Start the installation again from SelfTune.");
        }

        var row = existing ?? new GitHubInstallation { OrgId = orgId, InstallationId = installationId, AccountLogin = login, AccountType = type, CreatedBy = actor.Id, CreatedAt = clock.GetUtcNow() };
        Apply(row, installation);
        row.DeletedAt = null;
        if (existing is null) db.Installations.Add(row);
        await db.SaveChangesAsync(ct);
        return new BindResult(row, Created: existing is null);
    }

    /// <summary>What GitHub says about installation <paramref name="installationId"/> (App JWT), or the problem a client gets.</summary>
    public async Task<Installation> FetchFromGitHubAsync(long installationId, CancellationToken ct)
    {
        try
        {
            var app = await github.CreateAppClientAsync(ct);
            return await app.GitHubApps.GetInstallationForCurrent(installationId);
        }
        catch (NotFoundException)
        {
            throw ProblemException.NotFound($"GitHub has no installation {installationId} of this App; it may never have existed or have been uninstalled.");
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, $"looking up installation {installationId}");
        }
    }

    /// <summary>
    /// Like <see cref="FetchFromGitHubAsync"/>, with when GitHub created and last updated the installation: one request,
    /// its body read both as Octokit's <see cref="Installation"/> and as <see cref="InstallationTimes"/>.
    /// </summary>
    public async Task<(Installation Installation, InstallationTimes Times)> FetchWithTimesAsync(long installationId, CancellationToken ct)
    {
        try
        {
            var app = await github.CreateAppClientAsync(ct);
            var response = await app.Connection.Get<InstallationTimes>(new Uri($"app/installations/{installationId}", UriKind.Relative), null, null, ct);
            var body = response.HttpResponse.Body as string;
            if (response.Body is not { } times || string.IsNullOrEmpty(body))
                throw new ProblemException(502, "upstream_failure", $"GitHub answered without a body while looking up installation {installationId}.");
            return (new Octokit.Internal.SimpleJsonSerializer().Deserialize<Installation>(body), times);
        }
        catch (NotFoundException)
        {
            throw ProblemException.NotFound($"GitHub has no installation {installationId} of this App; it may never have existed or have been uninstalled.");
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, $"looking up installation {installationId}");
        }
    }

    /// <summary>Copies what GitHub says about an installation onto a binding (also used by webhooks).</summary>
    public void Apply(GitHubInstallation row, Installation installation)
    {
        row.AccountLogin = installation.Account.Login;
        row.AccountId = installation.Account.Id;
        row.AccountType = installation.TargetType.StringValue is { Length: > 0 } t ? t : row.AccountType;
        row.Suspended = installation.SuspendedAt is not null;
        row.Permissions = SerializePermissions(installation.Permissions);
        row.RepositorySelection = installation.RepositorySelection.StringValue ?? "all";
        row.UpdatedAt = clock.GetUtcNow();
    }

    public static string SerializePermissions(Octokit.InstallationPermissions? p)
    {
        var map = new SortedDictionary<string, string>();
        void Add(string name, StringEnum<InstallationReadWritePermissionLevel>? level) { if (level?.StringValue is { } v) map[name] = v; }
        if (p is not null)
        {
            Add("contents", p.Contents);
            Add("metadata", p.Metadata);
            Add("checks", p.Checks);
            Add("statuses", p.Statuses);
            Add("pull_requests", p.PullRequests);
        }
        return JsonSerializer.Serialize(map);
    }

    async Task<InstallState> VerifyStateAsync(AdminDbContext db, Guid orgId, string state, CancellationToken ct)
    {
        Guid id;
        try
        {
            id = Guid.ParseExact(Protector.Unprotect(state, out _), "N");
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or FormatException)
        {
            throw Unverified("The installation link is invalid or has expired (links are valid for one hour). Start the installation again from SelfTune.");
        }
        var row = await db.InstallStates.AsNoTracking().SingleOrDefaultAsync(s => s.Id == id, ct);
        if (row is null || row.OrgId != orgId)
            throw Unverified("This installation link was started by another SelfTune org, so it cannot bind an installation here.");
        if (row.UsedAt is not null)
            throw Unverified("This installation link has already been used. Start the installation again from SelfTune.");
        if (row.ExpiresAt <= clock.GetUtcNow())
            throw Unverified("The installation link has expired (links are valid for one hour). Start the installation again from SelfTune.");
        return row;
    }

    static ProblemException Unverified(string message) => new(403, "installation_unverified", message);
}
