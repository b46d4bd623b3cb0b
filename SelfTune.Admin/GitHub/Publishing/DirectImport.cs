namespace SelfTune.Admin.GitHub.Publishing;

public sealed record DirectImportRequest(string? RepoFullName, string? Ref, string? SkillPath, string? Version);

/// <summary>
/// <c>POST /api/v1/registry/{id}/versions/github</c> (SPEC section 10): a one-off import of a repository ref through an
/// installation bound to the org, without a connection. Provenance <c>github-direct</c>; <c>source_ref</c> is the tag
/// when the ref is a tag, else the full commit SHA. The version defaults to the commit's prerelease, as a push would.
/// Also the entry page's "Import from GitHub"; each call uses its own DbContext (pages call it). Admins and owners import
/// (an API key with <c>registry:push</c> acts as an admin).
/// </summary>
public sealed class DirectImport(IDbContextFactory<AdminDbContext> dbFactory, ConnectionService connections, RepositoryBrowser browser,
    SkillPackager packager, TimeProvider clock, IChangeFeed changes)
{
    public async Task<PublishResult> ImportAsync(Actor actor, Guid entryId, DirectImportRequest request, CancellationToken ct)
    {
        actor.Require(MemberRole.Admin, "import versions from GitHub");
        var orgId = actor.OrgId;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var entry = await RegistryService.FindEntryAsync(db, orgId, entryId, ct);

        var errors = new Dictionary<string, string[]>();
        if (!Validation.IsRepoFullName(request.RepoFullName)) errors["repo_full_name"] = ["Name the repository as 'owner/repo'."];
        if (string.IsNullOrWhiteSpace(request.Ref) || request.Ref.Length > 255 || request.Ref.Any(char.IsControl))
            errors["ref"] = ["Give a tag, a branch or a commit SHA to import (at most 255 characters)."];
        if (GitHubRules.SkillPathError(request.SkillPath, out var skillPath) is { } pathError) errors["skill_path"] = [pathError];
        if (errors.Count > 0) throw new ProblemException(400, "invalid_request", errors.Values.First()[0], errors);
        var version = request.Version is null ? null : RegistryService.ValidateVersion(request.Version);

        var (installationId, repo) = await FindReachingInstallationAsync(db, orgId, request.RepoFullName!, ct);
        try
        {
            var (sha, tag) = await browser.ResolveRefAsync(installationId, repo.Owner, repo.Name, request.Ref!, ct);
            await using var package = await packager.PackageAsync(installationId, repo.Owner, repo.Name, skillPath, sha, ct);
            var provenance = new VersionProvenance(VersionSource.GithubDirect, tag ?? sha, repo.FullName);
            return await new RegistryService(db, clock, changes).PublishAsync(entry, version ?? RegistryVersion.ForCommit(sha), null,
                package.Archive, package.Package, provenance, actor.Id, ct);
        }
        catch (PackagingException e)
        {
            throw e.ToProblem();
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) || e is IOException)
        {
            throw GitHubFailures.ToProblem(e, $"reading {repo.FullName}@{request.Ref}");
        }
    }

    async Task<(long InstallationId, RepoResponse Repo)> FindReachingInstallationAsync(AdminDbContext db, Guid orgId, string fullName, CancellationToken ct)
    {
        var installations = await db.Installations.AsNoTracking().Where(i => i.OrgId == orgId).ToListAsync(ct);
        foreach (var installationId in installations.Where(i => i.UnusableReason() is null).Select(i => i.InstallationId))
        {
            var repos = await connections.ListReposAsync(orgId, installationId, ct);
            if (repos.FirstOrDefault(r => string.Equals(r.FullName, fullName, StringComparison.OrdinalIgnoreCase)) is { } repo)
                return (installationId, repo);
        }
        throw new ProblemException(422, "validation_failed", $"{fullName} is not reachable through any GitHub installation bound to this org.",
            new Dictionary<string, string[]> { ["repo_full_name"] = [$"{fullName} is not reachable through any installation bound to this org."] });
    }
}
