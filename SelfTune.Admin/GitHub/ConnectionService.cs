using Octokit;

namespace SelfTune.Admin.GitHub;

/// <summary>
/// Repositories an installation reaches, and the connections of an org (SPEC sections 5 and 6). Reads need only the org;
/// creating, editing and deleting a connection take the <see cref="Actor"/> and need an admin or owner. Each call uses its
/// own DbContext, so the API and long-lived pages share this service safely.
/// </summary>
public sealed class ConnectionService(IDbContextFactory<AdminDbContext> dbFactory, IGitHubClientFactory github, JobQueue queue, TimeProvider clock)
{
    public async Task<GitHubInstallation> GetBoundInstallationAsync(Guid orgId, long installationId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Installations.AsNoTracking().SingleOrDefaultAsync(i => i.OrgId == orgId && i.InstallationId == installationId, ct)
            ?? throw ProblemException.NotFound($"Installation {installationId} is not bound to this org.");
    }

    /// <summary>
    /// Every repository the installation reaches (all pages), most recently pushed first, with <c>connected_elsewhere</c>
    /// (another org connects it) and <c>connected</c> (this org does), both by repository id.
    /// </summary>
    public async Task<List<RepoResponse>> ListReposAsync(Guid orgId, long installationId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var installation = await GetBoundInstallationAsync(orgId, installationId, ct);
        if (installation.UnusableReason() is { } unusable) throw ProblemException.Conflict(unusable);
        var repos = await FetchReposAsync(installationId, ct);
        var ids = repos.Select(r => r.Id).ToList();
        var connections = await db.Connections.AsNoTracking().Where(c => ids.Contains(c.RepoId))
            .Select(c => new { c.RepoId, c.OrgId, c.Id, c.CreatedAt }).ToListAsync(ct);
        var elsewhere = connections.Where(c => c.OrgId != orgId).Select(c => c.RepoId).ToHashSet();
        // The oldest of this org's connections of a repository (one per skill folder) is the one the page links to.
        var own = connections.Where(c => c.OrgId == orgId).GroupBy(c => c.RepoId)
            .ToDictionary(g => g.Key, g => g.OrderBy(c => c.CreatedAt).First().Id);
        return repos.Select(r => new RepoResponse(r.Id, r.FullName, r.Owner.Login, r.Name,
                r.Visibility?.ToString().ToLowerInvariant() ?? (r.Private ? "private" : "public"), r.DefaultBranch, r.HtmlUrl, r.PushedAt,
                elsewhere.Contains(r.Id), own.TryGetValue(r.Id, out var connectionId) ? connectionId : null))
            .OrderByDescending(r => r.PushedAt ?? DateTimeOffset.MinValue).ThenBy(r => r.FullName, StringComparer.OrdinalIgnoreCase).ToList();
    }

    async Task<IReadOnlyList<Repository>> FetchReposAsync(long installationId, CancellationToken ct)
    {
        try
        {
            var client = await github.CreateInstallationClientAsync(installationId, ct);
            var response = await client.GitHubApps.Installation.GetAllRepositoriesForCurrent(new ApiOptions { PageSize = 100 });
            return response.Repositories;
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, $"listing the repositories of installation {installationId}");
        }
    }

    public async Task<(GitHubConnection Connection, string EntryName, PublishAttempt? Last)> GetAsync(Guid orgId, string id, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var connection = (Guid.TryParse(id, out var guid)
            ? await db.Connections.AsNoTracking().Include(c => c.Entry).SingleOrDefaultAsync(c => c.Id == guid && c.OrgId == orgId, ct)
            : null) ?? throw ProblemException.NotFound($"No connection with id '{id}'.");
        var last = await db.Attempts.AsNoTracking().Where(a => a.ConnectionId == connection.Id)
            .OrderByDescending(a => a.CreatedAt).FirstOrDefaultAsync(ct);
        return (connection, connection.Entry!.Name, last);
    }

    /// <summary>The cursor list name of <see cref="ListAsync"/> (in the cursor, so another list's cursor is refused).</summary>
    public const string ConnectionsList = "connections";

    /// <summary>The API's list: oldest first (created_at, then id), keyset-paged.</summary>
    public async Task<Page<ConnectionResponse>> ListAsync(Guid orgId, PageRequest page, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.Connections.AsNoTracking().Where(c => c.OrgId == orgId);
        if (page.AfterTimeAndId() is (var at, var afterId))
            query = query.Where(c => c.CreatedAt > at || (c.CreatedAt == at && c.Id.CompareTo(afterId) > 0));
        var rows = await RowsAsync(db, query.OrderBy(c => c.CreatedAt).ThenBy(c => c.Id).Take(page.Limit + 1), ct);
        return page.ToPage(rows, ConnectionsList, c => PageRequest.TimeAndIdKey(c.CreatedAt, c.Id));
    }

    /// <summary>The connections page's rows: page <paramref name="pageIndex"/> (from 0) in the API's order, and the org's total.</summary>
    public async Task<(List<ConnectionResponse> Rows, int Total)> PageAsync(Guid orgId, int pageIndex, int pageSize, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var query = db.Connections.AsNoTracking().Where(c => c.OrgId == orgId);
        var total = await query.CountAsync(ct);
        var rows = await RowsAsync(db, query.OrderBy(c => c.CreatedAt).ThenBy(c => c.Id).Skip(Math.Max(0, pageIndex) * pageSize).Take(pageSize), ct);
        return (rows, total);
    }

    /// <summary>The rows of <paramref name="ids"/> that are the org's (a live update re-reads the rows it shows; a deleted one is missing).</summary>
    public async Task<List<ConnectionResponse>> RowsAsync(Guid orgId, IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await RowsAsync(db, db.Connections.AsNoTracking().Where(c => c.OrgId == orgId && ids.Contains(c.Id)), ct);
    }

    /// <summary>
    /// The overview's few rows: paused connections first (they need someone), then the newest, each newest first. Two
    /// reads of the (OrgId, CreatedAt, Id) index from its newest end, each stopping at <paramref name="take"/> rows; one
    /// query ordered by "is paused" sorted all of the org's connections (5,000 at the scale benchmark) on every live update.
    /// </summary>
    public async Task<List<ConnectionResponse>> AttentionFirstAsync(Guid orgId, int take, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var newestFirst = db.Connections.AsNoTracking().Where(c => c.OrgId == orgId).OrderByDescending(c => c.CreatedAt).ThenByDescending(c => c.Id);
        var paused = await RowsAsync(db, newestFirst.Where(c => c.PausedReason != null).Take(take), ct);
        return paused.Count == take ? paused : [.. paused, .. await RowsAsync(db, newestFirst.Where(c => c.PausedReason == null).Take(take - paused.Count), ct)];
    }

    /// <summary>The rows of an ordered, limited query with their entry names and each one's newest attempt (two queries).</summary>
    static async Task<List<ConnectionResponse>> RowsAsync(AdminDbContext db, IQueryable<GitHubConnection> page, CancellationToken ct)
    {
        var connections = await page.Select(c => new { Connection = c, EntryName = c.Entry!.Name }).ToListAsync(ct);
        var ids = connections.Select(c => c.Connection.Id).ToList();
        var latest = ids.Count == 0 ? [] : await NewestAttempts(db, ids).ToListAsync(ct);
        var byConnection = latest.ToDictionary(a => a.ConnectionId);
        return connections.Select(c => ConnectionResponse.From(c.Connection, c.EntryName, byConnection.GetValueOrDefault(c.Connection.Id))).ToList();
    }

    /// <summary>
    /// The newest attempt of each of <paramref name="connectionIds"/>, in one query that reads one index entry per
    /// connection and then the rows by key: for each connection the id of its newest attempt (one seek of the
    /// (ConnectionId, CreatedAt) index), then those attempts. Driven from the connections, so the cost does not grow with
    /// a connection's history; asking each attempt whether it is its connection's newest read every attempt of the
    /// connections shown and sorted them again for each (a row with 200 attempts cost 15 ms to re-read), and a
    /// <c>GROUP BY</c> with <c>ROW_NUMBER</c> numbers every attempt.
    /// </summary>
    public static IQueryable<PublishAttempt> NewestAttempts(AdminDbContext db, IReadOnlyCollection<Guid> connectionIds) =>
        db.Attempts.AsNoTracking().Where(a => db.Connections.Where(c => connectionIds.Contains(c.Id))
            .Select(c => db.Attempts.Where(n => n.ConnectionId == c.Id)
                .OrderByDescending(n => n.CreatedAt).ThenByDescending(n => n.Id).Select(n => (Guid?)n.Id).FirstOrDefault())
            .Contains(a.Id));

    /// <summary>
    /// Creates the connection and, with auto-publish on, queues its first sync in the same transaction (the job queue is in
    /// the database, so a crash right after the commit still publishes): the default branch head and the newest matching
    /// tag, exactly what the setup form's preview promised, as <c>POST .../sync</c> would (its attempts say <c>manual</c>:
    /// the person who created the connection asked for it). The response stays the seed's connection object; its
    /// <c>last_attempt</c> is null until the sync starts, then <c>GET .../attempts</c> and the connection page show it.
    /// With auto-publish off nothing is published until someone presses Sync now: that is what "off" promises.
    /// </summary>
    public async Task<GitHubConnection> CreateAsync(Actor actor, CreateConnectionRequest request, CancellationToken ct)
    {
        actor.Require(MemberRole.Admin, "connect repositories");
        var orgId = actor.OrgId;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var errors = new Dictionary<string, string[]>();
        if (request.EntryId is null) errors["entry_id"] = ["Choose the registry entry the repository publishes to."];
        if (request.InstallationId is null) errors["installation_id"] = ["Choose a GitHub installation bound to this org."];
        if (string.IsNullOrWhiteSpace(request.RepoFullName)) errors["repo_full_name"] = ["Name the repository as 'owner/repo'."];
        if (errors.Count > 0) throw new ProblemException(400, "invalid_request", errors.Values.First()[0], errors);

        var branch = request.DefaultBranch ?? "main";
        var tagPattern = request.TagPattern ?? "v*";
        if (!Validation.IsRepoFullName(request.RepoFullName)) errors["repo_full_name"] = ["The repository must be named 'owner/repo' with the characters GitHub allows."];
        if (GitHubRules.BranchError(branch) is { } branchError) errors["default_branch"] = [branchError];
        if (GitHubRules.SkillPathError(request.SkillPath, out var skillPath) is { } pathError) errors["skill_path"] = [pathError];
        if (!TagPattern.TryParse(tagPattern, out _, out var patternError)) errors["tag_pattern"] = [patternError!];
        var entry = await db.Entries.AsNoTracking().SingleOrDefaultAsync(e => e.Id == request.EntryId && e.OrgId == orgId, ct);
        if (entry is null) errors["entry_id"] = [$"No registry entry {request.EntryId} in this org."];
        var installation = await db.Installations.AsNoTracking()
            .SingleOrDefaultAsync(i => i.OrgId == orgId && i.InstallationId == request.InstallationId, ct);
        if (installation is null) errors["installation_id"] = [$"Installation {request.InstallationId} is not bound to this org."];
        else if (installation.UnusableReason() is { } unusable) errors["installation_id"] = [unusable];
        if (errors.Count > 0) throw new ProblemException(422, "validation_failed", errors.Values.First()[0], errors);

        // Reachable means: among the repositories the installation was given (a token can also read other public repositories).
        var repos = await FetchReposAsync(installation!.InstallationId, ct);
        var repo = repos.FirstOrDefault(r => string.Equals(r.FullName, request.RepoFullName, StringComparison.OrdinalIgnoreCase))
            ?? throw new ProblemException(422, "validation_failed",
                $"Repository {request.RepoFullName} is not reachable through installation {installation.InstallationId}. Add it to the installation on GitHub.",
                new Dictionary<string, string[]> { ["repo_full_name"] = [$"{request.RepoFullName} is not reachable through installation {installation.InstallationId}."] });

        if (await db.Connections.AnyAsync(c => c.OrgId == orgId && c.RepoId == repo.Id && c.SkillPath == skillPath, ct))
            throw ProblemException.Conflict($"{repo.FullName} already publishes its folder '{skillPath}' into an entry of this org.");

        var now = clock.GetUtcNow();
        var connection = new GitHubConnection
        {
            OrgId = orgId, EntryId = entry!.Id, InstallationId = installation.InstallationId, RepoId = repo.Id,
            RepoOwner = repo.Owner.Login, RepoName = repo.Name, DefaultBranch = branch, SkillPath = skillPath,
            AutoPublish = request.AutoPublish ?? true, WriteBackEnabled = request.WriteBackEnabled ?? false, TagPattern = tagPattern,
            CreatedBy = actor.Id, CreatedAt = now, UpdatedAt = now,
        };
        db.Connections.Add(connection);
        AuditLog.Record(db, actor, now, "connection.create", "connection", connection.Id.ToString(), connection.RepoFullName,
            $"{connection.RepoFullName} (skill_path {skillPath}) → entry {entry.Name}; default_branch {branch}, tag_pattern {tagPattern}, "
            + $"auto_publish {(connection.AutoPublish ? "true" : "false")}, write_back_enabled {(connection.WriteBackEnabled ? "true" : "false")}"
            + (connection.AutoPublish ? "; first sync queued" : ""));
        if (connection.AutoPublish) PublishJobs.EnqueueSync(queue, db, connection.Id, AttemptTrigger.Manual);
        try { await db.SaveChangesAsync(ct); }
        catch (DbUpdateException)
        {
            throw ProblemException.Conflict($"{repo.FullName} already publishes its folder '{skillPath}' into an entry of this org.");
        }
        return connection; // the save woke the workers when it stored the first sync (JobQueue.Enqueue)
    }

    public async Task UpdateAsync(Actor actor, GitHubConnection connection, UpdateConnectionRequest request, CancellationToken ct)
    {
        RequireManage(actor, connection, "edit connections");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var errors = new Dictionary<string, string[]>();
        if (request.DefaultBranch is not null && GitHubRules.BranchError(request.DefaultBranch) is { } branchError) errors["default_branch"] = [branchError];
        var skillPath = PackagingRules.RepositoryRoot;
        if (request.SkillPath is not null && GitHubRules.SkillPathError(request.SkillPath, out skillPath) is { } pathError) errors["skill_path"] = [pathError];
        if (request.TagPattern is not null && !TagPattern.TryParse(request.TagPattern, out _, out var patternError)) errors["tag_pattern"] = [patternError!];
        if (errors.Count > 0) throw new ProblemException(422, "validation_failed", errors.Values.First()[0], errors);

        // Attached as read, so only the fields changed below are written: a rename or pause a webhook applied in the
        // meantime is not overwritten with the values this caller read.
        db.Connections.Attach(connection);
        var before = (connection.SkillPath, connection.WriteBackEnabled, connection.AutoPublish, connection.TagPattern, connection.DefaultBranch);
        if (request.SkillPath is not null)
        {
            if (skillPath != connection.SkillPath && await db.Connections.AnyAsync(
                    c => c.OrgId == connection.OrgId && c.RepoId == connection.RepoId && c.SkillPath == skillPath && c.Id != connection.Id, ct))
                throw ProblemException.Conflict($"{connection.RepoFullName} already publishes its folder '{skillPath}' into an entry of this org.");
            connection.SkillPath = skillPath;
        }
        if (request.WriteBackEnabled is { } writeBack) connection.WriteBackEnabled = writeBack;
        if (request.AutoPublish is { } autoPublish) connection.AutoPublish = autoPublish;
        if (request.TagPattern is not null) connection.TagPattern = request.TagPattern;
        if (request.DefaultBranch is not null) connection.DefaultBranch = request.DefaultBranch;
        connection.UpdatedAt = clock.GetUtcNow();
        List<string> changed = [];
        void Compare<T>(string field, T was, T now) { if (!EqualityComparer<T>.Default.Equals(was, now)) changed.Add(AuditLog.Changed(field, was, now)); }
        Compare("skill_path", before.SkillPath, connection.SkillPath);
        Compare("write_back_enabled", before.WriteBackEnabled, connection.WriteBackEnabled);
        Compare("auto_publish", before.AutoPublish, connection.AutoPublish);
        Compare("tag_pattern", before.TagPattern, connection.TagPattern);
        Compare("default_branch", before.DefaultBranch, connection.DefaultBranch);
        if (changed.Count > 0) // saving what it already was changes nothing worth a line
            AuditLog.Record(db, actor, connection.UpdatedAt, "connection.update", "connection", connection.Id.ToString(), connection.RepoFullName,
                string.Join("; ", changed));
        await db.SaveChangesAsync(ct);
    }

    /// <summary>Removes the connection; published versions and the attempt history stay.</summary>
    public async Task DeleteAsync(Actor actor, GitHubConnection connection, CancellationToken ct)
    {
        RequireManage(actor, connection, "delete connections");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // The delete and its entry commit together (ExecuteDelete bypasses SaveChanges).
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        if (await db.Connections.Where(c => c.Id == connection.Id).ExecuteDeleteAsync(ct) == 0) return; // already gone: nothing was deleted now
        AuditLog.Record(db, actor, clock.GetUtcNow(), "connection.delete", "connection", connection.Id.ToString(), connection.RepoFullName,
            $"{connection.RepoFullName} (skill_path {connection.SkillPath}) no longer feeds entry {connection.Entry?.Name ?? connection.EntryId.ToString()}; its versions stay");
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
    }

    /// <summary>An admin or owner of the connection's own org (another org's connection is "not found", never "forbidden").</summary>
    static void RequireManage(Actor actor, GitHubConnection connection, string action)
    {
        if (connection.OrgId != actor.OrgId) throw ProblemException.NotFound($"No connection with id '{connection.Id}'.");
        actor.Require(MemberRole.Admin, action);
    }
}
