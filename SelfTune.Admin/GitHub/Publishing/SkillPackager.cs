namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// Packages one folder of a repository at one commit: the repository archive is downloaded, the folder repacked and
/// validated (<see cref="SkillArchive"/>) and staged. Shared by publishing, pull-request validation and direct imports.
/// </summary>
public sealed class SkillPackager(IGitHubClientFactory github, ArchiveStore archives)
{
    /// <summary>The skill under <paramref name="skillPath"/> of the repository archive at <paramref name="sha"/>, validated and staged.</summary>
    public async Task<StagedSkill> PackageAsync(long installationId, string owner, string repo, string skillPath, string sha, CancellationToken ct)
    {
        // On disk: a skill may be large, and is never held in memory whole. Written straight into staging, hashed on the way.
        await using var repacked = archives.CreateArchiveWriter();
        SkillPackage package;
        await using (var tarball = await github.DownloadTarballAsync(installationId, owner, repo, sha, ct))
        {
            package = await SkillArchive.RepackAsync(tarball, skillPath, repacked.Stream, archives.CreateScratchFile, PackagingLimits.Default, ct);
        }
        return new StagedSkill(repacked.Complete(), package);
    }

    /// <summary>The connection's skill folder at <paramref name="sha"/>.</summary>
    public Task<StagedSkill> PackageAsync(GitHubConnection connection, string sha, CancellationToken ct) =>
        PackageAsync(connection.InstallationId, connection.RepoOwner, connection.RepoName, connection.SkillPath, sha, ct);
}
