using System.Text.Json.Serialization;

namespace SelfTune.Admin.GitHub;

// Wire shapes of /api/v1/github (the seed's field names; snake_case by the app's JSON policy).

public sealed record GitHubSettingsDto(WriteBackMode WriteBackMode);

public sealed record UpdateGitHubSettingsRequest(string? WriteBackMode);

// Suspended is a documented request field (the seed's "Bind installation"), so a body carrying it binds and a mistyped one
// gets a clear 400; the binder takes the suspension from GitHub's own answer, never from the client.
public sealed record BindInstallationRequest(long? InstallationId, string? AccountLogin, string? AccountType, bool? Suspended, string? State);

public sealed record InstallationResponse(
    Guid Id, long InstallationId, string AccountLogin, string AccountType, bool Suspended,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    IReadOnlyDictionary<string, string> Permissions, string RepositorySelection, DateTimeOffset? DeletedAt)
{
    public static InstallationResponse From(GitHubInstallation i) =>
        new(i.Id, i.InstallationId, i.AccountLogin, i.AccountType, i.Suspended, i.CreatedAt, i.UpdatedAt,
            InstallationPermissions.Parse(i.Permissions), i.RepositorySelection, i.DeletedAt);
}

/// <summary>
/// A repository an installation reaches. <c>connected</c>: this org already publishes from it; <c>ConnectionId</c> (one of
/// those connections, for the setup page's link) is not part of the wire format.
/// </summary>
public sealed record RepoResponse(
    long Id, string FullName, string Owner, string Name, string Visibility, string DefaultBranch, string HtmlUrl,
    DateTimeOffset? PushedAt, bool ConnectedElsewhere, [property: JsonIgnore] Guid? ConnectionId = null)
{
    public bool Connected => ConnectionId is not null;
}

public sealed record CreateConnectionRequest(
    Guid? EntryId, long? InstallationId, string? RepoFullName, string? DefaultBranch, string? SkillPath,
    bool? AutoPublish, bool? WriteBackEnabled, string? TagPattern);

public sealed record UpdateConnectionRequest(bool? WriteBackEnabled, bool? AutoPublish, string? TagPattern, string? DefaultBranch, string? SkillPath);

public sealed record AttemptResponse(
    Guid Id, Guid ConnectionId, AttemptTrigger Trigger, string? DeliveryId, AttemptStatus Status, string? Version,
    string? SourceRef, string? Message, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt,
    WriteBackStatus WriteBackStatus, string? CheckRunId, string? StatusContext, DateTimeOffset CreatedAt, DateTimeOffset? PublishedAt)
{
    public static AttemptResponse From(PublishAttempt a) =>
        new(a.Id, a.ConnectionId, a.Trigger, a.DeliveryId, a.Status, a.Version, a.SourceRef, a.Message, a.StartedAt, a.FinishedAt,
            a.WriteBackStatus, a.CheckRunId, a.StatusContext, a.CreatedAt, a.PublishedAt);
}

public sealed record ConnectionResponse(
    Guid Id, Guid OrgId, Guid EntryId, string EntryName, long InstallationId, string RepoOwner, string RepoName, string RepoFullName,
    string DefaultBranch, string SkillPath, bool AutoPublish, bool WriteBackEnabled, string TagPattern, Guid CreatedBy,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, AttemptResponse? LastAttempt, long RepoId, string? PausedReason,
    string? Drift, DateTimeOffset? DriftDetectedAt)
{
    public static ConnectionResponse From(GitHubConnection c, string entryName, PublishAttempt? last) =>
        new(c.Id, c.OrgId, c.EntryId, entryName, c.InstallationId, c.RepoOwner, c.RepoName, c.RepoFullName, c.DefaultBranch,
            c.SkillPath, c.AutoPublish, c.WriteBackEnabled, c.TagPattern, c.CreatedBy, c.CreatedAt, c.UpdatedAt,
            last is null ? null : AttemptResponse.From(last), c.RepoId, c.PausedReason, c.Drift, c.DriftDetectedAt);
}

/// <summary>
/// The answer of <c>POST .../connections/{id}/reconcile</c>: what it published or tried (oldest first), and the drift it
/// found (null when the connection is in step with GitHub), with a sentence that says both.
/// </summary>
public sealed record ReconcileResult(
    Guid ConnectionId, string Message, IReadOnlyList<AttemptResponse> Attempts, string? Drift, DateTimeOffset? DriftDetectedAt)
{
    public static ReconcileResult From(GitHubConnection c, IReadOnlyList<PublishAttempt> attempts)
    {
        var said = new List<string>();
        var published = attempts.Where(a => a.Status == AttemptStatus.Published).Select(a => a.Version).ToList();
        if (published.Count > 0) said.Add($"Published {string.Join(", ", published)}.");
        var unchanged = attempts.Count(a => a.Status == AttemptStatus.Unchanged);
        if (unchanged > 0) said.Add($"{unchanged} already published with the same content.");
        var skipped = attempts.Where(a => a.Status == AttemptStatus.Skipped).ToList();
        if (skipped.Count > 0) said.Add($"{skipped.Count} skipped: {skipped[0].Message}");
        var failed = attempts.Where(a => a.Status == AttemptStatus.Failed).ToList();
        if (failed.Count > 0) said.Add($"{failed.Count} failed: {failed[0].Message}");
        if (attempts.Count == 0) said.Add("Nothing was missing from the registry.");
        said.Add(c.Drift is null ? $"{c.RepoFullName} is in step with the registry." : $"Out of step: {c.Drift}");
        return new(c.Id, string.Join(" ", said), attempts.Select(AttemptResponse.From).ToList(), c.Drift, c.DriftDetectedAt);
    }
}

/// <summary>The seed's sync answer.</summary>
public sealed record SyncResponse(
    Guid ConnectionId, AttemptStatus Status, string? Version, string? SourceRef, DateTimeOffset? PublishedAt, string? Message,
    WriteBackStatus WriteBackStatus, string? CheckRunId, string? StatusContext, Guid AttemptId)
{
    public static SyncResponse From(PublishAttempt a) =>
        new(a.ConnectionId, a.Status, a.Version, a.SourceRef, a.PublishedAt, a.Message, a.WriteBackStatus, a.CheckRunId, a.StatusContext, a.Id);
}

/// <summary>The dry run's request: a branch, a tag or a commit SHA of the connection's repository.</summary>
public sealed record PreviewRequest(string? Ref);

/// <summary>What a publish of the ref would end with: a new version, the same one again, nothing (a tag the pattern does not publish), or a failure.</summary>
public enum PreviewOutcome { Publishes, Unchanged, Skipped, Fails }

public sealed record PreviewFile(string Path, long Size);

/// <summary>A reason the publish would fail: the file it concerns (repository-relative, when there is one), the sentence, the rule id.</summary>
public sealed record PreviewProblem(string? File, string Message, string Rule)
{
    public static PreviewProblem From(PackagingProblem p) => new(p.FilePath, p.Message, p.Rule);

    public static PreviewProblem From(PackagingWarning w) => new(w.FilePath, w.Message, w.Rule);
}

/// <summary>
/// The dry run's answer: the version a publish of <c>Ref</c> (at <c>CommitSha</c>) would take, its files, the archive's
/// size and content hash (as the published version will show them), and every problem; nothing is published.
/// </summary>
public sealed record PreviewResponse(
    Guid ConnectionId, string Ref, string CommitSha, string? Tag, PreviewOutcome Outcome, string Message, string? Version,
    IReadOnlyList<PreviewFile> Files, int FileCount, long Size, string? ContentHash, IReadOnlyList<PreviewProblem> Problems);

// The envelopes the API answers lists and small results in (the seed's shapes).

public sealed record InstallationList(IReadOnlyList<InstallationResponse> Installations);

public sealed record InstallUrlResponse(string Url, string State, int ExpiresIn);

public sealed record RepoList(IReadOnlyList<RepoResponse> Repos);

public sealed record ConnectionList(IReadOnlyList<ConnectionResponse> Connections, string? NextCursor);

public sealed record ConnectionDeleted(bool Deleted);

public sealed record ReconcileQueued(int Queued);

public sealed record AttemptList(IReadOnlyList<AttemptResponse> Attempts, string? NextCursor);

/// <summary>The receiver's answer to a delivery: <c>queued</c>, <c>ignored</c> (202) or <c>duplicate</c> (200).</summary>
public sealed record WebhookReceipt(string Status, string DeliveryId);

/// <summary>The permissions GitHub granted an installation, as stored (GitHub's own JSON object).</summary>
public static class InstallationPermissions
{
    public static IReadOnlyDictionary<string, string> Parse(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? [];

    public static bool Has(string json, string permission, string level = "write")
    {
        var granted = Parse(json);
        return granted.TryGetValue(permission, out var value) && (value == level || value == "admin" || (level == "read" && value == "write"));
    }
}

/// <summary>
/// A webhook delivery without its payload. <c>replay_of</c> is the delivery id a replay was made from; <c>recovered</c>: GitHub
/// failed to hand it over and the app asked GitHub to redeliver it, at <c>recovered_at</c>.
/// </summary>
public sealed record DeliveryResponse(
    Guid Id, string DeliveryId, string Event, string? Action, long? InstallationId, string? RepositoryFullName,
    DateTimeOffset ReceivedAt, DeliveryOutcome Outcome, string? OutcomeMessage, string? ReplayOf,
    bool Recovered = false, DateTimeOffset? RecoveredAt = null)
{
    public static DeliveryResponse From(DeliveryService.Summary d) =>
        new(d.Id, d.DeliveryId, d.Event, d.Action, d.InstallationId, d.RepositoryFullName, d.ReceivedAt, d.Outcome, d.OutcomeMessage, ReplayOfId(d.DeliveryId),
            d.Recovered, d.RecoveredAt);

    public static DeliveryResponse From(WebhookDelivery d) =>
        new(d.Id, d.DeliveryId, d.Event, d.Action, d.InstallationId, d.RepositoryFullName, d.ReceivedAt, d.Outcome, d.OutcomeMessage, ReplayOfId(d.DeliveryId));

    static string? ReplayOfId(string deliveryId) => DeliveryService.RootOf(deliveryId) is var root && root != deliveryId ? root : null;
}

/// <summary>One delivery with what it did: the org's attempts it created and its replays (newest first).</summary>
public sealed record DeliveryDetailResponse(
    Guid Id, string DeliveryId, string Event, string? Action, long? InstallationId, string? RepositoryFullName,
    DateTimeOffset ReceivedAt, DeliveryOutcome Outcome, string? OutcomeMessage, string? ReplayOf,
    bool Replayable, IReadOnlyList<AttemptResponse> Attempts, IReadOnlyList<DeliveryResponse> Replays,
    bool Recovered = false, DateTimeOffset? RecoveredAt = null);

public sealed record DeliveryList(IReadOnlyList<DeliveryResponse> Deliveries, string? NextCursor);
