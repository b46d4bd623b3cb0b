using Octokit;

namespace SelfTune.Admin.GitHub;

/// <summary>The outcome of re-reading an installation GitHub says was changed (<c>setup_action=update</c>).</summary>
public sealed record InstallationRefresh(GitHubInstallation Installation, string PermissionsBefore, bool PermissionsChanged);

/// <summary>
/// What the GitHub setup page needs besides binding and connections: the org's installations, re-reading one, the
/// org's write-back mode, and creating a registry entry. Changes take the <see cref="Actor"/> and need an admin or owner.
/// Each call uses its own DbContext (safe for long-lived pages).
/// </summary>
public sealed class GitHubSetupService(IDbContextFactory<AdminDbContext> dbFactory, IGitHubClientFactory github, InstallationBinder binder,
    IOptionsMonitor<GitHubOptions> options, TimeProvider clock, IChangeFeed changes)
{
    /// <summary>The App settings configuration lacks (the manifest flow's stored App may stand in for them).</summary>
    public IReadOnlyList<string> MissingSettings() => options.CurrentValue.MissingSettings();

    public async Task<List<GitHubInstallation>> ListInstallationsAsync(Guid orgId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Installations.AsNoTracking().Where(i => i.OrgId == orgId).OrderBy(i => i.CreatedAt).ToListAsync(ct);
    }

    /// <summary>Asks GitHub for the installation again and stores what it says (account, permissions, suspension).</summary>
    public async Task<InstallationRefresh> RefreshInstallationAsync(Actor actor, long installationId, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Admin, "update installations");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var row = await db.Installations.SingleOrDefaultAsync(i => i.OrgId == actor.OrgId && i.InstallationId == installationId, ct)
            ?? throw ProblemException.NotFound($"Installation {installationId} is not bound to this org.");
        var installation = await binder.FetchFromGitHubAsync(installationId, ct);
        var before = row.Permissions;
        binder.Apply(row, installation);
        await db.SaveChangesAsync(ct);
        github.ForgetInstallationToken(installationId); // a token minted before the change carries the old permissions
        return new InstallationRefresh(row, before, before != row.Permissions /* both in the binder's canonical (sorted) form */);
    }

    public async Task<WriteBackMode> GetWriteBackModeAsync(Guid orgId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.GitHubSettings.Where(s => s.OrgId == orgId).Select(s => (WriteBackMode?)s.WriteBackMode).SingleOrDefaultAsync(ct)
            ?? WriteBackMode.Checks;
    }

    public async Task SetWriteBackModeAsync(Actor actor, WriteBackMode mode, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Admin, "change the write-back mode");
        var orgId = actor.OrgId;
        if (!Enum.IsDefined(mode)) throw ProblemException.Invalid("write_back_mode", "write_back_mode must be one of: off, checks, checks_and_prs.");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var row = await db.GitHubSettings.SingleOrDefaultAsync(s => s.OrgId == orgId, ct);
        if (row is null) db.GitHubSettings.Add(row = new GitHubOrgSettings { OrgId = orgId });
        var before = row.WriteBackMode;
        row.WriteBackMode = mode;
        row.UpdatedAt = clock.GetUtcNow();
        if (before != mode)
            AuditLog.Record(db, actor, row.UpdatedAt, "github.write_back_change", "github_settings", orgId.ToString(), "write-back mode",
                AuditLog.Changed("write_back_mode", before, mode));
        await db.SaveChangesAsync(ct);
    }

    /// <summary>
    /// Creates an entry for a new connection with the registry's own rules (RegistryService), on a context of its own;
    /// part of connecting a repository, so it needs the same role.
    /// </summary>
    public async Task<RegistryEntry> CreateEntryAsync(Actor actor, CreateEntryRequest request, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Admin, "connect repositories");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await new RegistryService(db, clock, changes).CreateEntryAsync(actor.OrgId, actor.Id, request, ct);
    }
}
