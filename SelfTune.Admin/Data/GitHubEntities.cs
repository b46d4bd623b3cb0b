using System.Text.Json.Serialization;

namespace SelfTune.Admin.Data;

// The GitHub integration's rows (SPEC sections 3-9).

public enum WriteBackMode { Off, Checks, ChecksAndPrs }

public enum AttemptTrigger { Push, Tag, Manual, Reconcile, PullRequest }

public enum AttemptStatus { Queued, Running, Published, Unchanged, Skipped, Failed }

public enum WriteBackStatus { Disabled, Pending, Success, Failed, Unsupported }

// Rejected: refused for its signature; stored without its body, no org sees it (see RejectedDeliveries), never processed.
public enum DeliveryOutcome { Queued, Processed, Ignored, Failed, Rejected }

public enum JobState { Pending, Running, Succeeded, Failed }

/// <summary>Org-level GitHub policy. One row per org, created on first write; absent means the defaults.</summary>
public sealed class GitHubOrgSettings
{
    public Guid OrgId { get; set; }
    public WriteBackMode WriteBackMode { get; set; } = WriteBackMode.Checks;
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>An installation of the GitHub App bound to one org. The same installation may be bound by several orgs.</summary>
public sealed class GitHubInstallation
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid OrgId { get; set; }
    public long InstallationId { get; set; }
    public required string AccountLogin { get; set; }
    /// <summary>"User" or "Organization", as GitHub reports it.</summary>
    public required string AccountType { get; set; }
    public long AccountId { get; set; }
    public bool Suspended { get; set; }
    /// <summary>Granted permissions as GitHub's JSON object, e.g. {"contents":"read","checks":"write"}.</summary>
    public string Permissions { get; set; } = "{}";
    public string RepositorySelection { get; set; } = "all";
    /// <summary>Set when GitHub reports the installation deleted; the binding stays so its history stays readable.</summary>
    public DateTimeOffset? DeletedAt { get; set; }
    public Guid CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>
    /// Why the app cannot act through this installation now (uninstalled or suspended on GitHub, where its tokens stop
    /// working), or null when it can. The one rule checked wherever an installation is about to be used: listing its
    /// repositories, connecting one, importing through it.
    /// </summary>
    public string? UnusableReason() =>
        DeletedAt is not null ? $"Installation {InstallationId} was uninstalled on GitHub."
        : Suspended ? $"Installation {InstallationId} is suspended on GitHub; unsuspend it there to use it."
        : null;
}

/// <summary>
/// The single-use half of an install <c>state</c>: the signed token names this row, binding marks it used. GitHub's user
/// authorization on the callback records which installations the person's GitHub account can reach; only those bind.
/// </summary>
public sealed class InstallState
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid OrgId { get; set; }
    public Guid IssuedTo { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? UsedAt { get; set; }
    /// <summary>
    /// JSON array of the installations GitHub listed for the authorizing user (<c>GET /user/installations</c>):
    /// [{"id":1,"account_login":"x","account_type":"Organization"}]; null until a callback proved any.
    /// </summary>
    public string? ProvedInstallations { get; set; }
    /// <summary>Refused binding tries with this state; at <c>InstallationBinder.MaxFailedAttempts</c> the state is dead.</summary>
    public int FailedAttempts { get; set; }
}

/// <summary>A repository (by GitHub id, which survives renames and transfers) feeding one registry entry.</summary>
public sealed class GitHubConnection
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid OrgId { get; set; }
    public Guid EntryId { get; set; }
    public RegistryEntry? Entry { get; set; }
    public long InstallationId { get; set; }
    public long RepoId { get; set; }
    public required string RepoOwner { get; set; }
    public required string RepoName { get; set; }
    public string RepoFullName => $"{RepoOwner}/{RepoName}";
    public string DefaultBranch { get; set; } = "main";
    public string SkillPath { get; set; } = ".";
    public bool AutoPublish { get; set; } = true;
    public bool WriteBackEnabled { get; set; }
    public string TagPattern { get; set; } = "v*";
    /// <summary>Why webhooks no longer publish (installation deleted, repository removed); null while active.</summary>
    public string? PausedReason { get; set; }
    /// <summary>
    /// What reconciliation last found out of step with GitHub (a released tag that now points at another commit, a
    /// repository the installation no longer reaches), in words with what to do; null when in step.
    /// </summary>
    public string? Drift { get; set; }
    public DateTimeOffset? DriftDetectedAt { get; set; }
    public Guid CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>One try to publish (or validate) for a connection. Every attempt is kept.</summary>
public sealed class PublishAttempt
{
    /// <summary>Time-ordered (<see cref="WebhookDelivery.Id"/> says why).</summary>
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public Guid ConnectionId { get; set; }
    public AttemptTrigger Trigger { get; set; }
    public string? DeliveryId { get; set; }
    public AttemptStatus Status { get; set; } = AttemptStatus.Queued;
    public string? Version { get; set; }
    /// <summary>The tag or full commit SHA the attempt builds from.</summary>
    public string? SourceRef { get; set; }
    /// <summary>The commit SHA (for a tag, the commit it points at): where write-back posts.</summary>
    public string? CommitSha { get; set; }
    public string? Message { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public DateTimeOffset? PublishedAt { get; set; }
    public WriteBackStatus WriteBackStatus { get; set; } = WriteBackStatus.Disabled;
    public string? CheckRunId { get; set; }
    public string? StatusContext { get; set; }

    /// <summary>A new, queued attempt for <paramref name="connection"/>.</summary>
    public static PublishAttempt Create(
        GitHubConnection connection, AttemptTrigger trigger, string? sourceRef, string? deliveryId, DateTimeOffset now) => new()
    {
        OrgId = connection.OrgId, ConnectionId = connection.Id, Trigger = trigger, SourceRef = sourceRef, DeliveryId = deliveryId,
        CreatedAt = now,
    };

    /// <summary>
    /// Ends a new attempt before any work (auto-publish off, connection paused, GitHub unreadable for a sync): skipped or
    /// failed with the reason, started and finished when created, nothing written back.
    /// </summary>
    public PublishAttempt EndBeforeWork(AttemptStatus status, string message)
    {
        Status = status;
        Message = message;
        StartedAt = FinishedAt = CreatedAt;
        WriteBackStatus = WriteBackStatus.Disabled;
        return this;
    }

    /// <summary>Ends a new attempt as skipped before any work.</summary>
    public PublishAttempt Skip(string message) => EndBeforeWork(AttemptStatus.Skipped, message);

    /// <summary>Marks the attempt as running (again, on a retry), clearing the last try's message.</summary>
    public void Start(DateTimeOffset now)
    {
        Status = AttemptStatus.Running;
        StartedAt ??= now;
        Message = null;
    }

    /// <summary>Ends the attempt; <paramref name="version"/> is kept when given, <paramref name="publishedAt"/> when published.</summary>
    public void Finish(AttemptStatus status, string message, DateTimeOffset now, string? version = null, DateTimeOffset? publishedAt = null)
    {
        Status = status;
        Message = message;
        Version = version ?? Version;
        if (status == AttemptStatus.Published) PublishedAt = publishedAt;
        FinishedAt = now;
        StartedAt ??= now;
    }

    /// <summary>Notes on a running attempt that its try failed and it will be tried again; false when it already ended.</summary>
    public bool NoteRetry(string reason)
    {
        if (Status is not (AttemptStatus.Queued or AttemptStatus.Running)) return false;
        Message = $"Retrying: {reason}.";
        return true;
    }

    /// <summary>Ends an attempt that is still queued or running as failed; false (and no change) when it already ended.</summary>
    public bool Abandon(string message, DateTimeOffset now)
    {
        if (Status is not (AttemptStatus.Queued or AttemptStatus.Running)) return false;
        Finish(AttemptStatus.Failed, message, now);
        return true;
    }
}

/// <summary>A received webhook. Stored before anything is done with it; <see cref="DeliveryId"/> makes redeliveries no-ops.</summary>
public sealed class WebhookDelivery
{
    /// <summary>
    /// Time-ordered (UUID version 7: the creation time's milliseconds first, then random bits), as the ids of the other
    /// rows a busy org adds by the thousand (attempts, versions, audit entries). A new row's key then lands at the end of
    /// the primary key's B-tree, on the page the rows just before it wrote, instead of on a random page of a large index:
    /// a batch of deliveries dirties one page of that index, not one each (on SQLite one log frame of 4 KB per dirty page
    /// per commit, and the checkpoint copies each again; on PostgreSQL the same, as full-page writes after a checkpoint).
    /// It says nothing the row does not show (its creation time), and is still unguessable enough for an id that
    /// grants nothing by itself.
    /// </summary>
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public required string DeliveryId { get; set; }
    public required string Event { get; set; }
    public string? Action { get; set; }
    public long? InstallationId { get; set; }
    public long? RepositoryId { get; set; }
    public string? RepositoryFullName { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }
    public DeliveryOutcome Outcome { get; set; }
    public string? OutcomeMessage { get; set; }
    /// <summary>The org that replayed it (a replay acts for that org only, so only that org lists it); null for GitHub's deliveries.</summary>
    public Guid? ReplayedByOrgId { get; set; }

    /// <summary>The body as received; empty for an event the app ignores (its headers and outcome are enough).</summary>
    public required string Payload { get; set; }
}

/// <summary>
/// A delivery GitHub failed to hand over (it never reached us, or got no 2xx) that the app asked GitHub to redeliver.
/// The redelivery arrives with the same GUID, so the Deliveries page marks the stored delivery as recovered by it.
/// </summary>
public sealed class DeliveryRecovery
{
    /// <summary>The delivery's GUID (<c>X-GitHub-Delivery</c>).</summary>
    public required string DeliveryId { get; set; }
    /// <summary>GitHub's numeric id of the failed delivery attempt, the one redelivered.</summary>
    public long HookDeliveryId { get; set; }
    public required string Event { get; set; }
    public string? Action { get; set; }
    /// <summary>When GitHub first tried to deliver it.</summary>
    public DateTimeOffset DeliveredAt { get; set; }
    public DateTimeOffset RequestedAt { get; set; }
    /// <summary>Null while GitHub accepted the request; otherwise why it did not (kept so a refused one is not asked for forever).</summary>
    public string? Error { get; set; }
}

/// <summary>
/// A unit of background work in the durable queue. Claimed with a lease so a crashed worker's job is taken over;
/// jobs with the same <see cref="ConcurrencyKey"/> never run at the same time.
/// </summary>
public sealed class Job
{
    public long Id { get; set; }
    public required string Kind { get; set; }
    public required string Payload { get; set; }
    public string? ConcurrencyKey { get; set; }
    public JobState State { get; set; } = JobState.Pending;
    public int Attempts { get; set; }
    public int MaxAttempts { get; set; } = 5;
    public DateTimeOffset NotBefore { get; set; }
    public string? LockedBy { get; set; }
    public DateTimeOffset? LockedUntil { get; set; }
    public string? LastError { get; set; }
    public string? Result { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>The W3C traceparent of the request or job that enqueued it, so the job's work continues that trace.</summary>
    public string? TraceParent { get; set; }
}

/// <summary>App credentials obtained through GitHub's manifest flow, encrypted with ASP.NET Data Protection.</summary>
public sealed class StoredGitHubApp
{
    public int Id { get; set; } = 1;
    public long AppId { get; set; }
    public required string Slug { get; set; }
    public required string ProtectedPrivateKey { get; set; }
    public required string ProtectedWebhookSecret { get; set; }
    /// <summary>The App's OAuth client id and (protected) secret, for user authorization; null on rows stored before they were kept.</summary>
    public string? ClientId { get; set; }
    public string? ProtectedClientSecret { get; set; }
    public string? HtmlUrl { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}
