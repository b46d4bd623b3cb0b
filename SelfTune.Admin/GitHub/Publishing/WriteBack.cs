using Microsoft.EntityFrameworkCore;
using Octokit;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Client;

namespace SelfTune.Admin.GitHub.Publishing;

/// <summary>
/// Posts an attempt's result to GitHub (SPEC section 9): a check run when the installation may write checks, otherwise a
/// commit status. A failure here is recorded as <c>failed</c> on the attempt and never undoes the publish.
/// </summary>
public sealed class WriteBack(AdminDbContext db, IGitHubClientFactory github, IConfiguration config, ILogger<WriteBack> log)
{
    public enum Channel { None, Checks, Statuses }

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
        var channel = InstallationPermissions.Has(permissions, "checks") ? Channel.Checks
            : InstallationPermissions.Has(permissions, "statuses") ? Channel.Statuses
            : Channel.None;
        attempt.WriteBackStatus = channel == Channel.None ? WriteBackStatus.Unsupported : WriteBackStatus.Pending;
        return channel;
    }

    public static string StatusContextFor(GitHubConnection connection) => $"selftune/publish/{connection.Id.ToString("N")[..8]}";

    public static string CheckRunNameFor(string entryName) => $"SelfTune publish: {entryName}";

    /// <summary>Marks the commit as being worked on: an in-progress check run or a pending status.</summary>
    public async Task StartAsync(Channel channel, PublishAttempt attempt, GitHubConnection connection, string entryName, CancellationToken ct)
    {
        if (channel == Channel.None) return;
        await TryAsync(attempt, async client =>
        {
            if (channel == Channel.Checks)
            {
                var run = await client.Check.Run.Create(connection.RepoOwner, connection.RepoName,
                    new NewCheckRun(CheckRunNameFor(entryName), attempt.CommitSha)
                    {
                        Status = CheckStatus.InProgress, StartedAt = attempt.StartedAt, ExternalId = attempt.Id.ToString(),
                        DetailsUrl = DetailsUrl(connection),
                    });
                attempt.CheckRunId = run.Id.ToString();
            }
            else
            {
                attempt.StatusContext = StatusContextFor(connection);
                await client.Repository.Status.Create(connection.RepoOwner, connection.RepoName, attempt.CommitSha,
                    new NewCommitStatus { State = CommitState.Pending, Context = attempt.StatusContext, Description = "SelfTune is publishing", TargetUrl = DetailsUrl(connection) });
            }
        }, connection, ct);
    }

    /// <summary>Posts the final result and sets the attempt's write-back status to success or failed.</summary>
    public async Task FinishAsync(Channel channel, PublishAttempt attempt, GitHubConnection connection, string summary, CancellationToken ct)
    {
        if (channel == Channel.None || attempt.WriteBackStatus == WriteBackStatus.Failed) return;
        var ok = await TryAsync(attempt, async client =>
        {
            if (channel == Channel.Checks)
            {
                var update = new CheckRunUpdate
                {
                    Status = CheckStatus.Completed, CompletedAt = attempt.FinishedAt, DetailsUrl = DetailsUrl(connection),
                    Conclusion = attempt.Status switch
                    {
                        AttemptStatus.Failed => CheckConclusion.Failure,
                        // A pull request that passed validation ends 'skipped' (nothing is published), but its check succeeded.
                        AttemptStatus.Skipped when attempt.Trigger == AttemptTrigger.PullRequest => CheckConclusion.Success,
                        AttemptStatus.Skipped => CheckConclusion.Skipped,
                        _ => CheckConclusion.Success,
                    },
                    Output = new NewCheckRunOutput(Title(attempt), summary),
                };
                if (attempt.CheckRunId is null)
                {
                    var run = await client.Check.Run.Create(connection.RepoOwner, connection.RepoName,
                        new NewCheckRun(CheckRunNameFor(connection.Entry!.Name), attempt.CommitSha));
                    attempt.CheckRunId = run.Id.ToString();
                }
                await client.Check.Run.Update(connection.RepoOwner, connection.RepoName, long.Parse(attempt.CheckRunId), update);
            }
            else
            {
                attempt.StatusContext = StatusContextFor(connection);
                var state = attempt.Status == AttemptStatus.Failed ? CommitState.Failure : CommitState.Success;
                var description = Title(attempt);
                if (description.Length > 140) description = description[..139] + "…"; // GitHub's limit
                await client.Repository.Status.Create(connection.RepoOwner, connection.RepoName, attempt.CommitSha,
                    new NewCommitStatus { State = state, Context = attempt.StatusContext, Description = description, TargetUrl = DetailsUrl(connection) });
            }
        }, connection, ct);
        if (ok) attempt.WriteBackStatus = WriteBackStatus.Success;
    }

    async Task<bool> TryAsync(PublishAttempt attempt, Func<IGitHubClient, Task> post, GitHubConnection connection, CancellationToken ct)
    {
        try
        {
            var client = await github.CreateInstallationClientAsync(connection.InstallationId, ct);
            await post(client);
            return true;
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e) || e is IOException)
        {
            log.LogWarning(e, "Write-back for attempt {AttemptId} on {Repo} failed", attempt.Id, connection.RepoFullName);
            attempt.WriteBackStatus = WriteBackStatus.Failed;
            attempt.Message = (attempt.Message + $" Write-back to GitHub failed: {GitHubFailures.Describe(e)}.").Trim();
            return false;
        }
    }

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
