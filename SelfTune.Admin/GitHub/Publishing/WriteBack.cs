using System.Net;
using Octokit;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// Posts an attempt's result to GitHub (SPEC section 9): a check run when the installation may write checks, otherwise a
/// commit status. A failure here is recorded as <c>failed</c> on the attempt and never undoes the publish.
/// </summary>
/// <remarks>
/// GitHub may carry out a write and then lose the answer (a 5xx or a dropped connection after the fact), and every write
/// here is tried again after a failure: by the next try below, by a job retry, or by the worker that takes over from a
/// crashed one. So each write is idempotent: an attempt's check run is looked up by its external_id (the attempt id)
/// before one is created, and a status is posted only when the commit's latest one for our context says otherwise.
/// Every write first waits for the installation's <see cref="InstallationWriteLimiter"/>, so a burst of attempts stays
/// within GitHub's limit on content-creating requests.
/// </remarks>
public sealed class WriteBack(
    AdminDbContext db, IGitHubClientFactory github, InstallationWriteLimiter writeLimiter, IConfiguration config,
    IOptionsMonitor<GitHubOptions> options, TimeProvider clock, ILogger<WriteBack> log)
{
    public enum Channel { None, Checks, Statuses }

    /// <summary>GitHub takes at most this many annotations per request; the rest go in further updates of the same run.</summary>
    public const int AnnotationsPerRequest = 50;

    /// <summary>
    /// Each problem the validator found as an annotation on its file (a path from the repository root, as the validator
    /// names it for GitHub sources): refusals as failures, Agent Skills warnings as warnings, on the line the validator
    /// knows, else line 1. A problem that names no file (a broken archive) is in the summary only.
    /// </summary>
    public static IReadOnlyList<NewCheckRunAnnotation> AnnotationsFor(IReadOnlyList<PackagingProblem> refusals, IReadOnlyList<PackagingWarning> warnings) =>
    [
        .. refusals.Where(p => !string.IsNullOrEmpty(p.FilePath))
            .Select(p => new NewCheckRunAnnotation(p.FilePath, p.Line ?? 1, p.Line ?? 1, CheckAnnotationLevel.Failure, p.Message)),
        .. warnings.Where(w => !string.IsNullOrEmpty(w.FilePath))
            .Select(w => new NewCheckRunAnnotation(w.FilePath, 1, 1, CheckAnnotationLevel.Warning, w.Message)),
    ];

    /// <summary>
    /// Where an installation with <paramref name="permissions"/> (the stored JSON) can post results: check runs when it may
    /// write checks, else commit statuses when it may write those, else nowhere. The one rule: publishing and every page
    /// that explains write-back ask this.
    /// </summary>
    public static Channel ChannelFor(string permissions) =>
        InstallationPermissions.Has(permissions, "checks") ? Channel.Checks
        : InstallationPermissions.Has(permissions, "statuses") ? Channel.Statuses
        : Channel.None;

    /// <summary>Decides the channel and sets <see cref="PublishAttempt.WriteBackStatus"/> to disabled, unsupported or pending.</summary>
    public async Task<Channel> PrepareAsync(PublishAttempt attempt, GitHubConnection connection, CancellationToken ct)
    {
        var mode = await db.GitHubSettings.AsNoTracking().Where(s => s.OrgId == connection.OrgId)
            .Select(s => (WriteBackMode?)s.WriteBackMode).SingleOrDefaultAsync(ct) ?? WriteBackMode.Checks;
        if (mode == WriteBackMode.Off || !connection.WriteBackEnabled || attempt.CommitSha is null)
        {
            attempt.WriteBackStatus = WriteBackStatus.Disabled;
            return Channel.None;
        }
        var permissions = await db.Installations.AsNoTracking()
            .Where(i => i.OrgId == connection.OrgId && i.InstallationId == connection.InstallationId)
            .Select(i => i.Permissions).SingleOrDefaultAsync(ct) ?? "{}";
        var channel = ChannelFor(permissions);
        attempt.WriteBackStatus = channel == Channel.None ? WriteBackStatus.Unsupported : WriteBackStatus.Pending;
        return channel;
    }

    /// <summary>
    /// The channel of an attempt that stopped half-way: the one its start recorded, else decided again (a start whose
    /// answer was lost may still have created a check run, which <see cref="FinishAsync"/> then finds).
    /// </summary>
    public async Task<Channel> ResumeAsync(PublishAttempt attempt, GitHubConnection connection, CancellationToken ct) =>
        attempt.CheckRunId is not null ? Channel.Checks
        : attempt.StatusContext is not null ? Channel.Statuses
        : await PrepareAsync(attempt, connection, ct);

    public static string StatusContextFor(GitHubConnection connection) => $"selftune/publish/{connection.Id.ToString("N")[..8]}";

    public static string CheckRunNameFor(string entryName) => $"SelfTune publish: {entryName}";

    /// <summary>
    /// Marks the commit as being worked on: an in-progress check run or a pending status. Best effort: when it does not
    /// land, <see cref="FinishAsync"/> still posts the result (and finds a run this created without hearing back).
    /// </summary>
    public async Task StartAsync(Channel channel, PublishAttempt attempt, GitHubConnection connection, CancellationToken ct)
    {
        if (channel == Channel.None) return;
        await WriteAsync(attempt, connection, "start", async client =>
        {
            if (channel == Channel.Checks)
            {
                var run = await FindRunAsync(client, attempt, connection);
                if (run is null) await writeLimiter.WaitAsync(connection.InstallationId, ct);
                run ??= await client.Check.Run.Create(connection.RepoOwner, connection.RepoName,
                        new NewCheckRun(CheckRunNameFor(connection.Entry!.Name), attempt.CommitSha)
                        {
                            Status = CheckStatus.InProgress, StartedAt = attempt.StartedAt, ExternalId = attempt.Id.ToString(),
                            DetailsUrl = DetailsUrl(connection),
                        });
                attempt.CheckRunId = run.Id.ToString();
            }
            else await PostStatusAsync(client, attempt, connection, CommitState.Pending, "SelfTune is publishing", ct);
        }, ct);
    }

    /// <summary>
    /// Posts the final result, trying again until it lands (up to GitHub:MaxRetries more times, on failures a later try may
    /// fix), and sets the write-back status to success, or to failed with the reason added to the attempt's message. A check
    /// run carries the validator's <paramref name="refusals"/> and <paramref name="warnings"/> as annotations on their files:
    /// the first <see cref="AnnotationsPerRequest"/> with the conclusion, the rest in further updates (GitHub appends
    /// them). A commit status has no room for them; its description says how many problems there are.
    /// </summary>
    public async Task FinishAsync(Channel channel, PublishAttempt attempt, GitHubConnection connection, string summary, CancellationToken ct,
        IReadOnlyList<PackagingProblem>? refusals = null, IReadOnlyList<PackagingWarning>? warnings = null)
    {
        if (channel == Channel.None) return;
        var annotations = AnnotationsFor(refusals ?? [], warnings ?? []);
        // Across tries: a try after a failure goes on from the first request that did not land, so GitHub, which appends
        // annotations, does not get a batch twice (unless it acted on a request whose answer was lost).
        var concluded = false;
        var annotationsSent = 0;
        var failure = await WriteAsync(attempt, connection, "finish", async client =>
        {
            if (channel == Channel.Statuses)
            {
                await PostStatusAsync(client, attempt, connection, attempt.Status == AttemptStatus.Failed ? CommitState.Failure : CommitState.Success, Title(attempt), ct);
                return;
            }
            if (!concluded)
            {
                var first = annotations.Take(AnnotationsPerRequest).ToList();
                var output = Output(attempt, summary, first);
                if (attempt.CheckRunId is null && await FindRunAsync(client, attempt, connection) is { } started) attempt.CheckRunId = started.Id.ToString();
                await writeLimiter.WaitAsync(connection.InstallationId, ct);
                if (attempt.CheckRunId is null)
                {
                    // Never started (or its start never landed): one run, created completed.
                    var run = await client.Check.Run.Create(connection.RepoOwner, connection.RepoName,
                        new NewCheckRun(CheckRunNameFor(connection.Entry!.Name), attempt.CommitSha)
                        {
                            Status = CheckStatus.Completed, Conclusion = ConclusionOf(attempt), StartedAt = attempt.StartedAt,
                            CompletedAt = attempt.FinishedAt, ExternalId = attempt.Id.ToString(), DetailsUrl = DetailsUrl(connection), Output = output,
                        });
                    attempt.CheckRunId = run.Id.ToString();
                }
                else
                {
                    // Repeating this update is harmless: it sets the same final state.
                    await client.Check.Run.Update(connection.RepoOwner, connection.RepoName, long.Parse(attempt.CheckRunId),
                        new CheckRunUpdate
                        {
                            Status = CheckStatus.Completed, Conclusion = ConclusionOf(attempt), CompletedAt = attempt.FinishedAt,
                            DetailsUrl = DetailsUrl(connection), Output = output,
                        });
                }
                concluded = true;
                annotationsSent = first.Count;
            }
            while (annotationsSent < annotations.Count)
            {
                var batch = annotations.Skip(annotationsSent).Take(AnnotationsPerRequest).ToList();
                await writeLimiter.WaitAsync(connection.InstallationId, ct);
                await client.Check.Run.Update(connection.RepoOwner, connection.RepoName, long.Parse(attempt.CheckRunId!),
                    new CheckRunUpdate { Output = Output(attempt, summary, batch) });
                annotationsSent += batch.Count;
            }
        }, ct);
        attempt.WriteBackStatus = failure is null ? WriteBackStatus.Success : WriteBackStatus.Failed;
        SelfTuneTelemetry.WriteBacks.Add(1, new KeyValuePair<string, object?>("outcome", failure is null ? "written" : "failed"));
        if (failure is not null)
            attempt.Message = (attempt.Message + $" Write-back to GitHub failed: {GitHubFailures.Describe(failure)}.").Trim();
    }

    /// <summary>The attempt's check run on its commit, if an earlier try created it (matched by external_id = attempt id).</summary>
    static async Task<CheckRun?> FindRunAsync(IGitHubClient client, PublishAttempt attempt, GitHubConnection connection)
    {
        var runs = await client.Check.Run.GetAllForReference(connection.RepoOwner, connection.RepoName, attempt.CommitSha,
            new CheckRunRequest { CheckName = CheckRunNameFor(connection.Entry!.Name), Filter = CheckRunCompletedAtFilter.All },
            new ApiOptions { PageSize = 100 });
        var externalId = attempt.Id.ToString();
        return runs.CheckRuns.Where(r => r.ExternalId == externalId).MinBy(r => r.Id);
    }

    /// <summary>The run's title and summary (GitHub wants both on every update that adds annotations) with one batch of annotations.</summary>
    static NewCheckRunOutput Output(PublishAttempt attempt, string summary, IReadOnlyList<NewCheckRunAnnotation> annotations) =>
        new(Title(attempt), summary) { Annotations = annotations.Count == 0 ? null : annotations };

    /// <summary>Posts a status, unless the commit's latest one for our context already says the same (an earlier try landed).</summary>
    async Task PostStatusAsync(IGitHubClient client, PublishAttempt attempt, GitHubConnection connection, CommitState state, string description,
        CancellationToken ct)
    {
        if (description.Length > 140) description = description[..139] + "…"; // GitHub's limit
        var context = attempt.StatusContext = StatusContextFor(connection);
        // Newest first: the first page holds the latest status of our context unless 100 newer ones of others came after it.
        var latest = (await client.Repository.Status.GetAll(connection.RepoOwner, connection.RepoName, attempt.CommitSha,
            new ApiOptions { PageSize = 100, PageCount = 1 })).FirstOrDefault(s => s.Context == context);
        if (latest is not null && latest.State == state && latest.Description == description) return;
        await writeLimiter.WaitAsync(connection.InstallationId, ct);
        await client.Repository.Status.Create(connection.RepoOwner, connection.RepoName, attempt.CommitSha,
            new NewCommitStatus { State = state, Context = context, Description = description, TargetUrl = DetailsUrl(connection) });
    }

    /// <summary>
    /// Runs <paramref name="write"/> until it lands, trying again after a backoff on failures a later try may fix, up to
    /// GitHub:MaxRetries more times (the HTTP layer does not repeat a POST GitHub may have acted on; this does, and the
    /// write looks first). Returns null when it landed, else the last failure (logged).
    /// </summary>
    async Task<Exception?> WriteAsync(PublishAttempt attempt, GitHubConnection connection, string step, Func<IGitHubClient, Task> write, CancellationToken ct)
    {
        var o = options.CurrentValue;
        for (var retry = 0; ; retry++)
        {
            try
            {
                var client = await github.CreateInstallationClientAsync(connection.InstallationId, ct);
                await write(client);
                return null;
            }
            catch (Exception e) when ((GitHubFailures.IsGitHubFailure(e) || e is IOException) && !ct.IsCancellationRequested)
            {
                if (retry >= o.MaxRetries || !MayPassOnRetry(e))
                {
                    log.LogWarning(e, "Write-back ({Step}) for attempt {AttemptId} on {Repo} failed after {Tries} tries",
                        step, attempt.Id, connection.RepoFullName, retry + 1);
                    return e;
                }
                var delay = Backoff.Exponential(retry, o.RetryBaseDelay, o.MaxRetryDelay, Random.Shared.NextDouble(), spread: 1);
                log.LogInformation("Write-back ({Step}) for attempt {AttemptId} failed ({Reason}); trying again in {Delay}",
                    step, attempt.Id, GitHubFailures.Describe(e), delay);
                await Task.Delay(delay, clock, ct);
            }
        }
    }

    /// <summary>GitHub erring or refusing for now, or no answer at all; not a refusal that will stand (403, 404, 422).</summary>
    static bool MayPassOnRetry(Exception e) => e switch
    {
        RateLimitExceededException or SecondaryRateLimitExceededException => true,
        ApiException api => (int)api.StatusCode >= 500 || api.StatusCode == HttpStatusCode.TooManyRequests,
        GitHubNotConfiguredException => false,
        GitHubWriteLimitException => false, // the limiter's queue is 5 minutes deep: seconds later it refuses again
        _ => true, // a dropped connection or a timeout
    };

    static CheckConclusion ConclusionOf(PublishAttempt attempt) => attempt.Status switch
    {
        AttemptStatus.Failed => CheckConclusion.Failure,
        // A pull request that passed validation ends 'skipped' (nothing is published), but its check succeeded.
        AttemptStatus.Skipped when attempt.Trigger == AttemptTrigger.PullRequest => CheckConclusion.Success,
        AttemptStatus.Skipped => CheckConclusion.Skipped,
        _ => CheckConclusion.Success,
    };

    static string Title(PublishAttempt a) => a.Status switch
    {
        AttemptStatus.Published => $"Published {a.Version}",
        AttemptStatus.Unchanged => $"{a.Version} already published",
        AttemptStatus.Skipped when a.Trigger == AttemptTrigger.PullRequest => "Valid",
        AttemptStatus.Skipped => "Skipped",
        _ => "Publish failed",
    } + (a.Message is { Length: > 0 } ? $": {a.Message}" : "");

    string? DetailsUrl(GitHubConnection connection) =>
        config["SelfTune:PublicUrl"] is { Length: > 0 } baseUrl ? $"{baseUrl.TrimEnd('/')}/connections/{connection.Id}" : null;
}
