using Octokit;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// What a sync or reconciliation finds out of step between a connection and GitHub, stored on the connection in words
/// with what to do (<see cref="GitHubConnection.Drift"/>) and cleared when they are in step again: a released tag that
/// now points at another commit than its version was published from (the version stays as it is: versions are
/// immutable), or a repository the installation can no longer read.
/// </summary>
public sealed class ConnectionDrift(AdminDbContext db, IGitHubClientFactory github, GitHubLinks links, IChangeFeed changes, TimeProvider clock)
{
    /// <summary>How many moved tags the text names; the rest are counted.</summary>
    const int TagsNamed = 3;

    /// <summary>
    /// The released tags of <paramref name="connection"/> that moved: each tag whose version was published (by this
    /// connection, from that tag) at another commit than the tag names now. A tag is in step again when it points back
    /// at its version's commit, is deleted, or its new commit was released under another tag (the fix the text asks for).
    /// Null when none moved.
    /// </summary>
    public async Task<string?> MovedTagsAsync(GitHubConnection connection, IReadOnlyList<(string Tag, RegistryVersion Version, string Sha)> tags, CancellationToken ct)
    {
        if (tags.Count == 0) return null;
        var names = tags.Select(t => t.Tag).ToList();
        // The commit a release was built from is its publishing attempt's (versions keep the tag, not the commit).
        var released = await db.Attempts.AsNoTracking()
            .Where(a => a.ConnectionId == connection.Id && a.Status == AttemptStatus.Published && a.SourceRef != null && a.CommitSha != null
                        && a.Version != null && names.Contains(a.SourceRef))
            .Where(a => db.Versions.Any(v => v.EntryId == connection.EntryId && v.Version == a.Version && v.SourceRef == a.SourceRef))
            .Select(a => new { Tag = a.SourceRef!, Version = a.Version!, Sha = a.CommitSha! })
            .ToListAsync(ct);
        var moved = tags.Join(released, t => t.Tag, r => r.Tag, (t, r) => (t.Tag, r.Version, Was: r.Sha, Now: t.Sha))
            .Where(m => !string.Equals(m.Was, m.Now, StringComparison.OrdinalIgnoreCase))
            .DistinctBy(m => m.Tag)
            .ToList();
        if (moved.Count == 0) return null;

        var newCommits = moved.Select(m => m.Now).ToList();
        var releasedElsewhere = (await db.Attempts.AsNoTracking()
                .Where(a => a.ConnectionId == connection.Id && a.Status == AttemptStatus.Published && a.CommitSha != null && newCommits.Contains(a.CommitSha))
                .Select(a => new { a.SourceRef, a.CommitSha }).ToListAsync(ct))
            .Where(a => GitRef.IsTag(a.SourceRef))
            .ToList();
        moved = moved.Where(m => !releasedElsewhere.Any(r => r.CommitSha == m.Now && r.SourceRef != m.Tag)).OrderBy(m => m.Tag, StringComparer.Ordinal).ToList();
        if (moved.Count == 0) return null;

        var sentences = moved.Take(TagsNamed).Select(m =>
            $"Tag {m.Tag} now points at {GitRef.Short(m.Now)} but version {m.Version} was published from {GitRef.Short(m.Was)}.");
        var more = moved.Count > TagsNamed ? $" {moved.Count - TagsNamed} more released tag(s) moved too." : "";
        return string.Join(" ", sentences) + more +
               $" Versions are immutable: publish the change under a new tag, or move {(moved.Count == 1 ? "the tag" : "the tags")} back.";
    }

    /// <summary>
    /// Whether <paramref name="failure"/>, met while reading the connection's repository, means the installation no
    /// longer reaches it (GitHub answers 404 or 403 for the repository itself, or for the installation); then the text
    /// that says so and what to do, else null (a missing branch, GitHub down or rate-limited: not drift).
    /// </summary>
    public async Task<string?> UnreachableAsync(GitHubConnection connection, Exception failure, CancellationToken ct)
    {
        if (!(Refused(failure) || failure is ProblemException { Status: 404 })) return null;
        try
        {
            // By id: the repository may have been renamed or transferred, which is not drift.
            var client = await github.CreateInstallationClientAsync(connection.InstallationId, ct);
            await client.Repository.Get(connection.RepoId);
            return null;
        }
        catch (Exception e) when (Refused(e))
        {
            var installation = await db.Installations.AsNoTracking()
                .FirstOrDefaultAsync(i => i.OrgId == connection.OrgId && i.InstallationId == connection.InstallationId, ct);
            var where = installation is null ? links.Repository(connection.RepoFullName) : links.InstallationSettings(installation);
            return $"SelfTune can no longer read {connection.RepoFullName}: add it back to the App's repository access on GitHub ({where}), " +
                   "or delete this connection if the repository is gone.";
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            return null; // GitHub could not tell: the next run asks again
        }
    }

    /// <summary>GitHub's 404 or 403 that refuses access; a rate limit is a 403 too, but says nothing about access.</summary>
    static bool Refused(Exception e) =>
        e is NotFoundException || (e is ForbiddenException and not RateLimitExceededException and not SecondaryRateLimitExceededException);

    /// <summary>
    /// Stores <paramref name="drift"/> on the connection (null clears it), with when it was first seen; a change only
    /// when the text differs, so an unchanged drift keeps its time. Pages following the connection hear of it.
    /// </summary>
    public async Task RecordAsync(GitHubConnection connection, string? drift, CancellationToken ct)
    {
        // Nearly always unchanged: no UPDATE then (on SQLite even one that matches nothing takes the write lock). The
        // connection was read by this job, and only jobs of the connection, one at a time under its key, write Drift.
        if (connection.Drift == drift) return;
        var at = drift is null ? (DateTimeOffset?)null : clock.GetUtcNow();
        var changed = await db.Connections
            .Where(c => c.Id == connection.Id && c.Drift != drift) // C# null semantics: null to text and back count as changes
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.Drift, drift).SetProperty(c => c.DriftDetectedAt, at), ct);
        if (changed == 0) return;
        // Told as an attempt-kind change naming only the connection: every page that follows a connection's attempts
        // re-reads the connection on it.
        changes.Publish(new Change(connection.OrgId, ChangeKind.Attempt, ConnectionId: connection.Id));
    }
}
