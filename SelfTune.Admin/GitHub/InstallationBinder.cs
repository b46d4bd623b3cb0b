using System.Globalization;
using Microsoft.AspNetCore.DataProtection;
using Octokit;

namespace SelfTune.Admin.GitHub;

public sealed record BindResult(GitHubInstallation Installation, bool Created);

/// <summary>
/// Binds a GitHub App installation to an org (SPEC section 4). The installation id in GitHub's redirect can be spoofed and
/// a state only proves who started a flow, so an installation binds only when GitHub's user authorization proved, for a
/// signed, single-use <c>state</c> this org issued, that the person's GitHub account can access it
/// (<see cref="ProveAsync"/>, on the App's callback). The stored account and permissions are the ones GitHub reports for
/// the id, never the caller's. Issuing a state, proving and binding take the <see cref="Actor"/> and need an admin or
/// owner; reading and applying GitHub's view of an installation (webhooks) need no one.
/// </summary>
public sealed class InstallationBinder(IDbContextFactory<AdminDbContext> dbFactory, IDataProtectionProvider protection, IGitHubClientFactory github,
    GitHubUserAuthorization userAuthorization, Microsoft.Extensions.Options.IOptions<GitHubOptions> options, TimeProvider clock)
{
    public static readonly TimeSpan StateLifetime = TimeSpan.FromHours(1);
    /// <summary>Refused binding tries a state survives; then it is dead, so ids cannot be tried one after another.</summary>
    public const int MaxFailedAttempts = 5;
    ITimeLimitedDataProtector Protector => protection.CreateProtector("SelfTune.GitHub.InstallState").ToTimeLimitedDataProtector();
    static readonly JsonSerializerOptions ProvedJson = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>A fresh state for the install or authorize link: signed, naming a row that records org, user and expiry.</summary>
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

    /// <summary>
    /// The callback's proof: checks that <paramref name="state"/> is this org's, was started by this member (or by one of
    /// the org's API keys), and is unused and alive; exchanges GitHub's <paramref name="code"/> for a user token and
    /// records on the state the installations GitHub lists for that user. Returns them.
    /// </summary>
    public async Task<IReadOnlyList<ReachableInstallation>> ProveAsync(Actor actor, string? state, string? code, CancellationToken ct)
    {
        actor.Require(MemberRole.Admin, "bind installations");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var row = await VerifyStateAsync(db, actor.OrgId, state, ct);
        await RequireStartedByAsync(db, row, actor, ct);
        if (string.IsNullOrWhiteSpace(code) || code.Length > 200)
            throw Unverified("GitHub sent no authorization code, so SelfTune cannot tell which installations your GitHub account can access. " +
                             "Start again from SelfTune and authorize the App on GitHub.");
        var reachable = await userAuthorization.ListReachableInstallationsAsync(code, ct);
        await db.InstallStates.Where(s => s.Id == row.Id && s.UsedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.ProvedInstallations, JsonSerializer.Serialize(reachable, ProvedJson)), ct);
        return reachable;
    }

    /// <summary>What a callback proved for <paramref name="state"/>, for the member who started it (the "connect" list).</summary>
    public async Task<IReadOnlyList<ReachableInstallation>> ProvedInstallationsAsync(Actor actor, string? state, CancellationToken ct)
    {
        actor.Require(MemberRole.Admin, "bind installations");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var row = await VerifyStateAsync(db, actor.OrgId, state, ct);
        await RequireStartedByAsync(db, row, actor, ct);
        return Proved(row);
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

        // Single-tenant self-hosting trusts the org's keys (documented); everyone else needs GitHub's proof.
        var stateRow = options.Value.TrustApiKeyBinding ? null
            : state is null ? throw Unverified("Binding an installation needs the 'state' of an installation link that GitHub's user authorization " +
                                               "came back with. Start the installation from SelfTune (the Install button or the install link) and authorize the App on GitHub.")
            : await VerifyStateAsync(db, orgId, state, ct);

        Installation installation;
        try
        {
            // Proof first: until GitHub said this person can access the installation, no answer may tell anything about it
            // (not whether it exists, not whose it is).
            if (stateRow is not null && !Proved(stateRow).Any(i => i.Id == installationId))
                throw Unverified($"GitHub did not list installation {installationId} among the installations the GitHub account that authorized " +
                                 "this link can access. Sign in on GitHub as someone who can, and start again from SelfTune.");
            installation = await FetchFromGitHubAsync(installationId, ct);
            var login = installation.Account.Login;
            var type = AccountType(installation);
            var mismatches = new Dictionary<string, string[]>();
            if (expectedLogin is not null && !string.Equals(expectedLogin, login, StringComparison.OrdinalIgnoreCase))
                mismatches["account_login"] = [$"Installation {installationId} belongs to '{login}', not '{expectedLogin}'."];
            if (expectedType is not null && !string.Equals(expectedType, type, StringComparison.OrdinalIgnoreCase))
                mismatches["account_type"] = [$"Installation {installationId} is on a {type} account, not a {expectedType}."];
            if (mismatches.Count > 0) throw new ProblemException(422, "validation_failed", mismatches.Values.First()[0], mismatches);
        }
        catch (ProblemException e) when (stateRow is not null && e.Status is >= 400 and < 500)
        {
            await db.InstallStates.Where(s => s.Id == stateRow.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.FailedAttempts, x => x.FailedAttempts + 1), ct);
            throw;
        }

        if (stateRow is not null)
        {
            // Consume the state only now, and only once even if two requests race with the same value.
            var now = clock.GetUtcNow();
            var consumed = await db.InstallStates.Where(s => s.Id == stateRow.Id && s.UsedAt == null)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.UsedAt, now), ct);
            if (consumed == 0) throw Unverified("This installation link has already been used. Start the installation again from SelfTune.");
        }

        var row = existing ?? new GitHubInstallation { OrgId = orgId, InstallationId = installationId, AccountLogin = installation.Account.Login,
            AccountType = AccountType(installation), CreatedBy = actor.Id, CreatedAt = clock.GetUtcNow() };
        Apply(row, installation);
        row.DeletedAt = null;
        if (existing is null) db.Installations.Add(row);
        AuditLog.Record(db, actor, row.UpdatedAt, "installation.bind", "installation", installationId.ToString(CultureInfo.InvariantCulture),
            row.AccountLogin, $"{row.AccountType} {row.AccountLogin}" + (existing is null ? "" : ", bound again after it was uninstalled"));
        await db.SaveChangesAsync(ct);
        return new BindResult(row, Created: existing is null);
    }

    static string AccountType(Installation installation) =>
        installation.TargetType.StringValue is { Length: > 0 } t ? t : installation.Account.Type?.ToString() ?? "User";

    static IReadOnlyList<ReachableInstallation> Proved(InstallState row) =>
        row.ProvedInstallations is { Length: > 0 } json ? JsonSerializer.Deserialize<List<ReachableInstallation>>(json, ProvedJson) ?? [] : [];

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

    async Task<InstallState> VerifyStateAsync(AdminDbContext db, Guid orgId, string? state, CancellationToken ct)
    {
        Guid id;
        try
        {
            id = Guid.ParseExact(Protector.Unprotect(state ?? "", out _), "N");
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
        if (row.FailedAttempts >= MaxFailedAttempts)
            throw Unverified($"This installation link was refused {MaxFailedAttempts} times and no longer works. Start the installation again from SelfTune.");
        return row;
    }

    /// <summary>The member who started the link, or, for a link an API key asked for, any admin of the org, finishes it.</summary>
    static async Task RequireStartedByAsync(AdminDbContext db, InstallState row, Actor actor, CancellationToken ct)
    {
        if (row.IssuedTo == actor.Id || await db.ApiKeys.AnyAsync(k => k.Id == row.IssuedTo && k.OrgId == row.OrgId, ct)) return;
        throw Unverified("This installation link was started by someone else in your org. Start the installation again from SelfTune.");
    }

    static ProblemException Unverified(string message) => new(403, "installation_unverified", message);
}
