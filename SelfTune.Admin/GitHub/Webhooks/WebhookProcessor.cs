using Microsoft.Extensions.Primitives;
using Octokit.Webhooks;
using Octokit.Webhooks.Events;
using Octokit.Webhooks.Events.Installation;
using Octokit.Webhooks.Events.InstallationRepositories;
using Octokit.Webhooks.Events.PullRequest;
using Octokit.Webhooks.Events.Repository;

namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>What processing a delivery did: the outcome message for the deliveries page and the attempts it created.</summary>
public sealed record WebhookOutcome(string Message, IReadOnlyList<PublishAttempt> Attempts);

/// <summary>Why a connection is paused: what resumes it is decided by the kind, not by the words of the reason.</summary>
public enum PauseKind
{
    /// <summary>The GitHub App was uninstalled; nothing resumes it but binding again.</summary>
    Uninstalled,

    /// <summary>The installation is suspended; unsuspending resumes it.</summary>
    Suspended,

    /// <summary>The repository was removed from the installation; adding it back resumes it.</summary>
    RepositoryRemoved,
}

/// <summary>
/// The paused reasons the webhook processor writes, and their kinds. The reason is stored as words only
/// (<see cref="GitHubConnection.PausedReason"/>), so <see cref="KindOf"/> is the one place that reads a kind back from them.
/// </summary>
public static class PauseReasons
{
    const string Suspended = "the GitHub App installation is suspended";
    const string RemovedSuffix = " was removed from the GitHub App installation";
    const string UninstalledPrefix = "the GitHub App was uninstalled from ";

    public static string Uninstalled(string account) => UninstalledPrefix + account;
    public static string SuspendedReason => Suspended;
    public static string RepositoryRemoved(string? fullName) => $"repository {fullName}{RemovedSuffix}";

    /// <summary>The kind of a paused reason written by <see cref="PauseReasons"/>; null when not paused, or paused some other way.</summary>
    public static PauseKind? KindOf(string? reason) =>
        reason is null ? null
        : reason == Suspended ? PauseKind.Suspended
        : reason.EndsWith(RemovedSuffix, StringComparison.Ordinal) ? PauseKind.RepositoryRemoved
        : reason.StartsWith(UninstalledPrefix, StringComparison.Ordinal) ? PauseKind.Uninstalled
        : null;
}

/// <summary>
/// What a stored delivery means for the org's connections (SPEC section 8). Runs in the background queue, after GitHub
/// already had its answer. Octokit.Webhooks parses the payload; publishing itself is queued per connection, so this
/// makes no GitHub call except to refresh an installation's permissions. A payload that lacks what an event needs
/// (a push without <c>repository.id</c>, a mistyped field) throws <see cref="UnprocessablePayloadException"/>, naming the field.
/// </summary>
/// <remarks>
/// The service holds no per-delivery state: each <see cref="ProcessAsync"/> call makes its own <c>Run</c> (the Octokit
/// <see cref="WebhookEventProcessor"/> whose overrides see one delivery) and returns a <see cref="WebhookOutcome"/>.
/// </remarks>
public sealed class WebhookProcessor(
    AdminDbContext db, JobQueue queue, InstallationBinder binder, IGitHubClientFactory github,
    IChangeFeed feed, TimeProvider clock)
{
    /// <summary>Events this processor acts on (the overrides of <c>Run</c>, one per <see cref="WebhookEvents.Table"/> row).</summary>
    public static IReadOnlySet<string> HandledEvents => WebhookEvents.All.Keys.ToHashSet();

    /// <summary>
    /// Processes <paramref name="stored"/> (tracked by this scope's context), marks it processed and returns what it did.
    /// With <paramref name="orgId"/> (a replay) only that org's connections and installation bindings are looked at; without
    /// it (a delivery from GitHub) every org's that the event concerns. <paramref name="save"/> stores the mark with what
    /// was queued, given the outcome message (the webhook job saves it with its own completion); the context's
    /// SaveChanges when null.
    /// </summary>
    public async Task<WebhookOutcome> ProcessAsync(WebhookDelivery stored, CancellationToken ct, Guid? orgId = null,
        Func<string, CancellationToken, Task>? save = null)
    {
        var run = new Run(db, queue, binder, github, clock, stored, orgId);
        var headers = new Dictionary<string, StringValues>(StringComparer.OrdinalIgnoreCase)
        {
            ["X-GitHub-Event"] = stored.Event,
            ["X-GitHub-Delivery"] = stored.DeliveryId,
        };
        try
        {
            await run.ProcessWebhookAsync(headers, stored.Payload, ct);
        }
        catch (JsonException e)
        {
            throw new UnprocessablePayloadException($"The {stored.Event} payload could not be read: {InputProblems.Describe(e)}.");
        }
        // The mark goes in the same transaction as the attempts and jobs queued above: a crash keeps all or none of it,
        // so a re-run of the webhook job (which skips a delivery that is no longer queued) never queues them twice.
        stored.Outcome = DeliveryOutcome.Processed;
        stored.OutcomeMessage = run.Outcome ?? NothingToDo(stored.Event, stored.Action);
        await (save is null ? db.SaveChangesAsync(ct) : save(stored.OutcomeMessage, ct));
        foreach (var attempt in run.Attempts) feed.Publish(Change.OfAttempt(attempt));
        // No explicit wake-up: a publish queued above wakes the slots when the save stores it (JobQueue.Enqueue), and a
        // wake-up with nothing queued sends every idle slot to claim (a write on SQLite) for nothing.
        return new WebhookOutcome(stored.OutcomeMessage, run.Attempts);
    }

    /// <summary>
    /// What a push comes to when no connection uses its repository: the outcome <see cref="ProcessAsync"/> writes for it,
    /// so <see cref="DeliveryIngest"/> can decide such a push at ingest, without a job. Null when the push lacks what it
    /// needs (no ref, no after): its job then fails it, naming the field, as before.
    /// </summary>
    public static string? OutcomeWithoutConnections(string? gitRef, bool deleted, string? after)
    {
        const string heads = "refs/heads/", tags = "refs/tags/";
        if (gitRef is null) return null;
        if (deleted || after == Run.ZeroSha) return DeletedRef(gitRef);
        if (after is null) return null;
        return gitRef.StartsWith(heads, StringComparison.Ordinal) ? BranchNotFollowed(gitRef[heads.Length..])
            : gitRef.StartsWith(tags, StringComparison.Ordinal) ? NoTagPatternMatches(gitRef[tags.Length..])
            : NothingToDo(WebhookEvents.Push.Name, null);
    }

    // The outcomes a push can come to without a connection; one home for ProcessAsync and OutcomeWithoutConnections.
    static string DeletedRef(string gitRef) => $"{gitRef} was deleted; nothing to publish.";
    static string BranchNotFollowed(string branch) => $"Push to {branch}: no connection follows this branch.";
    static string NoTagPatternMatches(string tag) => $"Tag {tag}: no connection follows this repository.";
    static string NothingToDo(string eventName, string? action) => $"Nothing to do for {eventName}{(action is null ? "" : "." + action)}.";

    /// <summary>One delivery's processing: the Octokit overrides, with the delivery, the replay scope and what they did.</summary>
    sealed class Run(
        AdminDbContext db, JobQueue queue, InstallationBinder binder, IGitHubClientFactory github,
        TimeProvider clock, WebhookDelivery delivery, Guid? scopeOrgId) : WebhookEventProcessor
    {
        static readonly TimeSpan TagEchoWindow = TimeSpan.FromMinutes(10);
        public const string ZeroSha = "0000000000000000000000000000000000000000";

        readonly List<PublishAttempt> attempts = [];
        string? outcome;

        public IReadOnlyList<PublishAttempt> Attempts => attempts;
        public string? Outcome => outcome;

        protected override async ValueTask ProcessPushWebhookAsync(WebhookHeaders headers, PushEvent push, CancellationToken ct = default)
        {
            var gitRef = push.Ref ?? throw Missing("ref");
            if (push.Deleted || push.After == ZeroSha) { outcome = DeletedRef(gitRef); return; }
            // The commit every attempt of this push reads (its tarball URL names it): nothing but a SHA may get that far.
            var after = GitRef.TryGetSha(push.After ?? throw Missing("after"), out var sha) ? sha
                : throw new UnprocessablePayloadException($"The {delivery.Event} payload's after is not a commit SHA (40 hex digits).");
            var connections = await ConnectionsForAsync(RepositoryIdOf(push.Repository), ct);
            if (gitRef.StartsWith("refs/heads/", StringComparison.Ordinal))
            {
                var branch = gitRef["refs/heads/".Length..];
                var matching = connections.Where(c => c.DefaultBranch == branch).ToList();
                foreach (var c in matching) Trigger(c, AttemptTrigger.Push, after, after);
                outcome = matching.Count == 0 ? BranchNotFollowed(branch) : Summary($"Push to {branch}");
            }
            else if (gitRef.StartsWith("refs/tags/", StringComparison.Ordinal))
            {
                // The commit the tag names is in the payload: head_commit is "the commit pointed to by the annotated tag"
                // (GitHub's push event reference), while after is the tag object itself for an annotated tag. With it the
                // publish makes no call to resolve the tag, and resolves nothing a later move of the tag could change.
                var commit = GitRef.TryGetSha(push.HeadCommit?.Id, out var head) ? head : null;
                await TagAsync(connections, gitRef["refs/tags/".Length..], commit ?? after, ct, commitKnown: commit is not null);
            }
        }

        protected override async ValueTask ProcessCreateWebhookAsync(WebhookHeaders headers, CreateEvent create, CancellationToken ct = default)
        {
            // A new branch publishes nothing by itself: its push (a separate delivery) publishes, when a connection follows it.
            if (create.RefType.StringValue != "tag") { outcome = $"The {create.RefType.StringValue} {create.Ref} was created: publishing follows its push, not its creation."; return; }
            var tag = create.Ref ?? throw Missing("ref");
            await TagAsync(await ConnectionsForAsync(RepositoryIdOf(create.Repository), ct), tag, null, ct);
        }

        /// <summary>GitHub sends both a push and a create event for a new tag; the second within minutes is an echo.</summary>
        /// <param name="sha">The push's commit (null for a create event, which names none).</param>
        /// <param name="commitKnown">The sha is the tag's commit (from head_commit): the attempt publishes it without resolving the tag.</param>
        async Task TagAsync(List<GitHubConnection> connections, string tag, string? sha, CancellationToken ct, bool commitKnown = false)
        {
            var since = clock.GetUtcNow() - TagEchoWindow;
            var matching = connections.Where(c => TagPattern.TryParse(c.TagPattern, out var p, out _) && p!.IsMatch(tag)).ToList();
            var echoes = 0;
            foreach (var c in matching)
            {
                var echo = await db.Attempts.AnyAsync(a => a.ConnectionId == c.Id && a.Trigger == AttemptTrigger.Tag && a.SourceRef == tag
                    && a.CreatedAt > since && (sha == null || a.CommitSha == null || a.CommitSha == sha), ct);
                if (echo) { echoes++; continue; }
                Trigger(c, AttemptTrigger.Tag, tag, commitKnown ? sha : null);
            }
            // The other event of the pair (push or create, whichever came first) already queued the publish: say so, not "0 queued".
            var other = sha is null ? "push" : "create";
            outcome = matching.Count == 0 ? NoMatch(connections, tag)
                : echoes == matching.Count ? $"Tag {tag}: already queued by GitHub's {other} event for this tag; nothing more to publish."
                : Summary($"Tag {tag}") + (echoes > 0 ? $" {echoes} already queued by the {other} event." : "");
        }

        /// <summary>Why a tag queued nothing, naming the patterns it missed (a user can fix the tag or the pattern).</summary>
        static string NoMatch(List<GitHubConnection> connections, string tag)
        {
            var patterns = connections.Select(c => c.TagPattern).Distinct().Order(StringComparer.Ordinal).Select(p => $"'{p}'").ToList();
            return patterns.Count switch
            {
                0 => NoTagPatternMatches(tag),
                1 => $"Tag {tag} does not match the tag pattern {patterns[0]}.",
                _ => $"Tag {tag} matches none of the tag patterns {string.Join(", ", patterns)}.",
            };
        }

        void Trigger(GitHubConnection connection, AttemptTrigger trigger, string sourceRef, string? commitSha)
        {
            if (connection.PausedReason is not null)
            {
                Add(PublishAttempt.Create(connection, trigger, sourceRef, delivery.DeliveryId, clock.GetUtcNow()).Skip($"Skipped: the connection is paused ({connection.PausedReason})."));
                return;
            }
            // Everything else (auto-publish off, a tag that gives no SemVer version) is decided by the publish job, which can
            // also tell GitHub: the commit gets a check run concluded 'skipped' with the reason.
            var attempt = PublishAttempt.Create(connection, trigger, sourceRef, delivery.DeliveryId, clock.GetUtcNow());
            attempt.CommitSha = commitSha;
            Add(attempt);
            PublishJobs.EnqueuePublish(queue, db, attempt);
        }

        void Add(PublishAttempt attempt)
        {
            db.Attempts.Add(attempt);
            attempts.Add(attempt);
        }

        string Summary(string what)
        {
            var queued = attempts.Count(a => a.Status == AttemptStatus.Queued);
            var skipped = attempts.Count - queued;
            return $"{what}: {queued} attempt(s) queued" + (skipped > 0 ? $", {skipped} skipped" : "") + ".";
        }

        protected override async ValueTask ProcessPullRequestWebhookAsync(WebhookHeaders headers, PullRequestEvent pr, PullRequestAction action, CancellationToken ct = default)
        {
            if (pr.Action is not { } name || !WebhookEvents.PullRequest.Actions!.Contains(name))
            {
                outcome = $"Pull request {ActionName}: nothing to validate.";
                return;
            }
            var sha = pr.PullRequest?.Head?.Sha ?? throw Missing("pull_request.head.sha");
            var connections = await ConnectionsForAsync(RepositoryIdOf(pr.Repository), ct);
            var orgIds = connections.Select(c => c.OrgId).Distinct().ToList();
            var validating = (await db.GitHubSettings.AsNoTracking().Where(s => orgIds.Contains(s.OrgId) && s.WriteBackMode == WriteBackMode.ChecksAndPrs)
                .Select(s => s.OrgId).ToListAsync(ct)).ToHashSet();
            foreach (var c in connections.Where(c => validating.Contains(c.OrgId))) Trigger(c, AttemptTrigger.PullRequest, sha, sha);
            outcome = attempts.Count == 0
                ? $"Pull request #{pr.Number}: no connected org validates pull requests (write-back mode checks_and_prs)."
                : Summary($"Pull request #{pr.Number}");
        }

        protected override async ValueTask ProcessInstallationWebhookAsync(WebhookHeaders headers, InstallationEvent e, InstallationAction action, CancellationToken ct = default)
        {
            var id = e.Installation is { Id: > 0 } installation ? installation.Id : throw Missing("installation.id");
            var bindings = await Bindings().Where(i => i.InstallationId == id).ToListAsync(ct);
            var connections = await Connections().Where(c => c.InstallationId == id).ToListAsync(ct);
            var now = clock.GetUtcNow();
            if (action == InstallationAction.Deleted)
            {
                foreach (var b in bindings) { b.DeletedAt = now; b.UpdatedAt = now; }
                foreach (var c in connections) Pause(c, PauseReasons.Uninstalled(e.Installation.Account?.Login ?? $"installation {id}"));
                outcome = $"Installation {id} deleted: {bindings.Count} binding(s) marked, {connections.Count} connection(s) paused.";
            }
            else if (action == InstallationAction.Suspend || action == InstallationAction.Unsuspend)
            {
                var suspended = action == InstallationAction.Suspend;
                foreach (var b in bindings) { b.Suspended = suspended; b.UpdatedAt = now; }
                foreach (var c in connections)
                    if (suspended) Pause(c, PauseReasons.SuspendedReason);
                    else if (PauseReasons.KindOf(c.PausedReason) == PauseKind.Suspended) Resume(c);
                outcome = $"Installation {id} {(suspended ? "suspended" : "unsuspended")}: {bindings.Count} binding(s), {connections.Count} connection(s) updated.";
            }
            else if (action == InstallationAction.NewPermissionsAccepted || action == InstallationAction.Created)
            {
                if (bindings.Count > 0)
                {
                    // The payload's permissions are GitHub's word too, but one API read gives the same model binding uses.
                    var app = await github.CreateAppClientAsync(ct);
                    var fresh = await app.GitHubApps.GetInstallationForCurrent(id);
                    foreach (var b in bindings) binder.Apply(b, fresh);
                    github.ForgetInstallationToken(id); // a cached token still carries the old permissions
                }
                outcome = $"Installation {id} {ActionName}: permissions of {bindings.Count} binding(s) refreshed.";
            }
        }

        protected override async ValueTask ProcessInstallationRepositoriesWebhookAsync(WebhookHeaders headers, InstallationRepositoriesEvent e,
            InstallationRepositoriesAction action, CancellationToken ct = default)
        {
            var installationId = e.Installation is { Id: > 0 } installation ? installation.Id : throw Missing("installation.id");
            if (action == InstallationRepositoriesAction.Removed)
            {
                var removed = (e.RepositoriesRemoved ?? throw Missing("repositories_removed"))
                    .Where(r => r is not null).DistinctBy(r => r.Id).ToDictionary(r => r.Id, r => r.FullName);
                var ids = removed.Keys.ToList();
                var connections = await Connections().Where(c => c.InstallationId == installationId && ids.Contains(c.RepoId)).ToListAsync(ct);
                foreach (var c in connections) Pause(c, PauseReasons.RepositoryRemoved(removed[c.RepoId]));
                outcome = $"{removed.Count} repository(ies) removed from installation {installationId}: {connections.Count} connection(s) paused.";
            }
            else
            {
                var ids = (e.RepositoriesAdded ?? throw Missing("repositories_added")).Where(r => r is not null).Select(r => r.Id).ToList();
                var connections = (await Connections().Where(c => c.InstallationId == installationId && ids.Contains(c.RepoId) && c.PausedReason != null)
                    .ToListAsync(ct)).Where(c => PauseReasons.KindOf(c.PausedReason) == PauseKind.RepositoryRemoved).ToList();
                foreach (var c in connections) Resume(c);
                outcome = $"{ids.Count} repository(ies) added to installation {installationId}: {connections.Count} connection(s) resumed.";
            }
        }

        protected override async ValueTask ProcessRepositoryWebhookAsync(WebhookHeaders headers, RepositoryEvent e, RepositoryAction action, CancellationToken ct = default)
        {
            var repoId = RepositoryIdOf(e.Repository);
            var repo = e.Repository!;
            var connections = await Connections().Where(c => c.RepoId == repoId).ToListAsync(ct);
            if (action == RepositoryAction.Renamed || action == RepositoryAction.Transferred)
            {
                var owner = repo.Owner?.Login ?? throw Missing("repository.owner.login");
                var name = repo.Name ?? throw Missing("repository.name");
                foreach (var c in connections)
                {
                    c.RepoOwner = owner;
                    c.RepoName = name;
                    c.UpdatedAt = clock.GetUtcNow();
                }
                outcome = $"Repository {repo.Id} is now {repo.FullName}: {connections.Count} connection(s) updated.";
            }
            else if (action == RepositoryAction.Edited && OldDefaultBranch() is { } oldDefault)
            {
                // Connections that followed the old default branch follow the new one; others chose a branch on purpose.
                var following = connections.Where(c => c.DefaultBranch == oldDefault).ToList();
                foreach (var c in following)
                {
                    c.DefaultBranch = repo.DefaultBranch ?? c.DefaultBranch;
                    c.UpdatedAt = clock.GetUtcNow();
                }
                outcome = $"Default branch of {repo.FullName} changed from {oldDefault} to {repo.DefaultBranch}: {following.Count} connection(s) follow it.";
            }
            else
            {
                outcome = $"Repository {ActionName}: nothing to do.";
            }
        }

        // GitHub's word for the action (Octokit's action types print as their type name, e.g. "InstallationAction { }").
        string ActionName => (delivery.Action ?? "(no action)").Replace('_', ' ');

        string? OldDefaultBranch()
        {
            using var doc = JsonDocument.Parse(delivery.Payload);
            return doc.RootElement.TryGetProperty("changes", out var changes)
                   && changes.TryGetProperty("default_branch", out var branch)
                   && branch.TryGetProperty("from", out var from) && from.ValueKind == JsonValueKind.String
                ? from.GetString()
                : null;
        }

        protected override ValueTask ProcessPingWebhookAsync(WebhookHeaders headers, PingEvent ping, CancellationToken ct = default)
        {
            outcome = "Ping received.";
            return ValueTask.CompletedTask;
        }

        /// <summary>The payload's <c>repository.id</c> (GitHub's ids are positive); without one there is nothing to match connections by.</summary>
        long RepositoryIdOf(Octokit.Webhooks.Models.Repository? repository) =>
            repository is { Id: > 0 } ? repository.Id : throw Missing("repository.id");

        UnprocessablePayloadException Missing(string field) => new($"The {delivery.Event} payload has no {field}.");

        Task<List<GitHubConnection>> ConnectionsForAsync(long repoId, CancellationToken ct) =>
            Connections().Where(c => c.RepoId == repoId).TagWith(PreparedStatements.Tag).ToListAsync(ct);

        /// <summary>
        /// Every connection, or only the replaying org's: a replay never acts on another org's connections. A suspended
        /// org's connections are left out: its deliveries are recorded, and ignored until an operator lifts the suspension.
        /// </summary>
        IQueryable<GitHubConnection> Connections() =>
            (scopeOrgId is { } orgId ? db.Connections.Where(c => c.OrgId == orgId) : db.Connections)
            .Where(c => !db.Orgs.Any(o => o.Id == c.OrgId && o.SuspendedAt != null));

        /// <summary>Every installation binding, or only the replaying org's.</summary>
        IQueryable<GitHubInstallation> Bindings() =>
            scopeOrgId is { } orgId ? db.Installations.Where(i => i.OrgId == orgId) : db.Installations;

        void Pause(GitHubConnection c, string reason)
        {
            c.PausedReason = reason;
            c.UpdatedAt = clock.GetUtcNow();
        }

        void Resume(GitHubConnection c)
        {
            c.PausedReason = null;
            c.UpdatedAt = clock.GetUtcNow();
        }
    }
}

/// <summary>A stored payload that lacks what its event needs, or does not parse: retrying cannot help, so its job fails at once.</summary>
public sealed class UnprocessablePayloadException(string message) : Exception(message);
