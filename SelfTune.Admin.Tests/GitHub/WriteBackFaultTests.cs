using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Octokit;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Fakes;
using Xunit.Abstractions;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// SPEC section 9 under GitHub faults: a write GitHub carried out but did not answer is not made twice, a final update
/// that fails is tried again until it lands or the attempt says write-back failed, and a job that gives up concludes its
/// attempt and its check run. Each fault is scoped to the test's own repository.
/// </summary>
public sealed class WriteBackFaultTests(GitHubHarness h, ITestOutputHelper output) : IClassFixture<GitHubHarness>
{
    static readonly object WriteBackOn = new { write_back_enabled = true };

    async Task<PublishAttempt> PushAndWaitAsync(GitHubHarness.Connected c)
    {
        await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", c.Sha);
        var attempt = Assert.Single(await h.WaitForFinishedAttemptsAsync(c.ConnectionId, 1));
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        return attempt;
    }

    FakeCheckRun SingleRun(GitHubHarness.Connected c) => Assert.Single(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id);

    int MaxRetries => h.App.Services.GetRequiredService<IOptionsMonitor<GitHubOptions>>().CurrentValue.MaxRetries;

    public static TheoryData<string> LostAnswers => ["acted then 502", "reset after acting", "reset before acting"];

    static Fault LostAnswer(string kind, string path) => kind switch
    {
        "acted then 502" => Fault.ActedThenServerError(path),
        "reset after acting" => Fault.ConnectionReset(path, afterActing: true),
        _ => Fault.ConnectionReset(path),
    };

    [Theory]
    [MemberData(nameof(LostAnswers))]
    public async Task A_check_run_create_whose_answer_is_lost_yields_exactly_one_run(string kind)
    {
        var c = await h.ConnectRepoAsync(h.Api, "wb-create-" + kind.Replace(' ', '-'), WriteBackOn);
        var fault = h.GitHub.InjectFault(LostAnswer(kind, $"/repos/{c.Repo.FullName}/check-runs").ForMethod("POST"));

        var attempt = await PushAndWaitAsync(c);

        Assert.Equal(0, fault.Remaining);
        Assert.True(attempt.Status == AttemptStatus.Published, $"{attempt.Status}: {attempt.Message}");
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
        var run = SingleRun(c);
        Assert.Equal(attempt.Id.ToString(), run.ExternalId);
        Assert.Equal(run.Id.ToString(), attempt.CheckRunId);
        Assert.Equal(["in_progress", "completed"], run.StatusHistory);
        Assert.Equal("success", run.Conclusion);
    }

    [Fact]
    public async Task A_commit_status_whose_answer_is_lost_is_not_posted_twice()
    {
        var c = await h.ConnectRepoAsync(h.Api, "wb-status-lost", WriteBackOn, checksWrite: false);
        var fault = h.GitHub.InjectFault(Fault.ActedThenServerError($"/repos/{c.Repo.FullName}/statuses/", times: 2).ForMethod("POST"));

        var attempt = await PushAndWaitAsync(c);

        Assert.Equal(0, fault.Remaining);
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
        var statuses = h.GitHub.Statuses.Where(s => s.RepoId == c.Repo.Id).OrderBy(s => s.Id).ToList();
        Assert.Equal(["pending", "success"], statuses.Select(s => s.State));
        Assert.All(statuses, s => Assert.Equal(attempt.StatusContext, s.Context));
    }

    [Fact]
    public async Task A_final_update_that_fails_and_then_succeeds_is_retried_and_completes_the_run()
    {
        var c = await h.ConnectRepoAsync(h.Api, "wb-update-flaky", WriteBackOn);
        // More failures than the HTTP layer's own retries of one call: only a retry of the update itself gets through.
        var fault = h.GitHub.InjectFault(Fault.ServerError($"/repos/{c.Repo.FullName}/check-runs/", times: MaxRetries + 2, statusCode: 502).ForMethod("PATCH"));

        var attempt = await PushAndWaitAsync(c);

        Assert.Equal(0, fault.Remaining);
        Assert.True(attempt.Status == AttemptStatus.Published, $"{attempt.Status}: {attempt.Message}");
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
        Assert.DoesNotContain("Write-back", attempt.Message);
        var run = SingleRun(c);
        Assert.Equal(["in_progress", "completed"], run.StatusHistory);
        Assert.Equal("success", run.Conclusion);
    }

    [Fact]
    public async Task A_final_update_that_keeps_failing_ends_with_write_back_failed_and_the_reason()
    {
        var c = await h.ConnectRepoAsync(h.Api, "wb-update-down", WriteBackOn);
        var fault = h.GitHub.InjectFault(Fault.ServerError($"/repos/{c.Repo.FullName}/check-runs/", times: 1000, statusCode: 502).ForMethod("PATCH"));

        var attempt = await PushAndWaitAsync(c);
        h.GitHub.ClearFaults();

        // Every try of the update was made (each with the HTTP layer's retries), then the attempt recorded the failure.
        Assert.Equal((MaxRetries + 1) * (MaxRetries + 1), 1000 - fault.Remaining);
        Assert.Equal(AttemptStatus.Published, attempt.Status);
        Assert.Equal(WriteBackStatus.Failed, attempt.WriteBackStatus);
        Assert.Contains("Write-back to GitHub failed: GitHub answered 502", attempt.Message);
        Assert.Single(await GitHubHarness.VersionsAsync(h.Api, c.EntryId));
        Assert.Equal("in_progress", SingleRun(c).Status); // what GitHub holds; the attempt says why
    }

    [Fact]
    public async Task A_job_that_fails_its_last_try_leaves_the_attempt_failed_and_its_check_run_concluded()
    {
        var c = await h.ConnectRepoAsync(h.Api, "wb-last-try", WriteBackOn);
        h.GitHub.InjectFault(Fault.ServerError($"/repos/{c.Repo.FullName}/tarball", times: 1000, statusCode: 502));

        var attempt = await PushAndWaitAsync(c);
        h.GitHub.ClearFaults();

        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        Assert.Contains("GitHub answered 502", attempt.Message);
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
        var run = SingleRun(c);
        Assert.Equal(attempt.CheckRunId, run.Id.ToString());
        Assert.Equal(["in_progress", "completed"], run.StatusHistory);
        Assert.Equal("failure", run.Conclusion);
        Assert.Contains("GitHub answered 502", run.Summary);
    }

    [Fact]
    public async Task A_job_whose_last_try_died_with_its_worker_fails_its_attempt_and_concludes_its_check_run()
    {
        var c = await h.ConnectRepoAsync(h.Api, "wb-gave-up", WriteBackOn);
        var orgId = await h.App.WithDbAsync(db => db.Connections.Where(x => x.Id == c.ConnectionId).Select(x => x.OrgId).SingleAsync());

        // What a worker that died in the job's last allowed try left behind: the attempt running, its check run created on
        // GitHub (the worker died before recording its id) and the job still leased to the dead worker.
        var now = DateTimeOffset.UtcNow;
        var attempt = new PublishAttempt
        {
            OrgId = orgId, ConnectionId = c.ConnectionId, Trigger = AttemptTrigger.Push, SourceRef = c.Sha, CommitSha = c.Sha,
            Status = AttemptStatus.Running, CreatedAt = now, StartedAt = now, WriteBackStatus = WriteBackStatus.Pending,
        };
        var client = await h.App.Services.GetRequiredService<IGitHubClientFactory>().CreateInstallationClientAsync(c.Installation.Id, default);
        var started = await client.Check.Run.Create(c.Repo.Owner, c.Repo.Name,
            new NewCheckRun(WriteBack.CheckRunNameFor("wb-gave-up"), c.Sha) { Status = CheckStatus.InProgress, ExternalId = attempt.Id.ToString() });
        var queue = h.App.Services.GetRequiredService<JobQueue>();
        var job = await h.App.WithDbAsync(async db =>
        {
            db.Attempts.Add(attempt);
            var job = PublishJobs.EnqueuePublish(queue, db, attempt);
            job.State = JobState.Running;
            job.Attempts = job.MaxAttempts;
            job.LockedBy = "dead-host:4242:deadbeef";
            job.LockedUntil = now.AddMinutes(-1);
            await db.SaveChangesAsync();
            return job;
        });

        var done = await queue.WaitForCompletionAsync(job.Id, TimeSpan.FromSeconds(30));

        Assert.Equal(JobState.Failed, done.State);
        Assert.Contains("abandoned", done.LastError);
        var stored = Assert.Single(await h.AttemptsAsync(c.ConnectionId));
        Assert.Equal(AttemptStatus.Failed, stored.Status);
        Assert.Contains("abandoned", stored.Message);
        Assert.NotNull(stored.FinishedAt);
        Assert.Equal(WriteBackStatus.Success, stored.WriteBackStatus);
        Assert.Equal(started.Id.ToString(), stored.CheckRunId);
        var run = SingleRun(c);
        Assert.Equal("completed", run.Status);
        Assert.Equal("failure", run.Conclusion);
        Assert.Contains("abandoned", run.Summary);
    }

    /// <summary>
    /// Many pushes while 30% of GitHub's answers fail at random (seeded): 5xx, 429 with Retry-After, connection resets
    /// before and after GitHub acted, and writes GitHub made before answering 502.
    /// </summary>
    [Fact]
    public async Task Under_random_GitHub_faults_every_attempt_ends_with_one_version_and_one_concluded_check_run()
    {
        const int Repos = 8, PushesPerRepo = 25, Seed = 20_260_811;
        const double FaultRate = 0.30;
        var clock = Stopwatch.StartNew();
        var installation = h.GitHub.AddInstallation("chaos-co");
        await h.BindAsync(h.Api, installation);
        var connections = new List<GitHubHarness.Connected>();
        for (var i = 0; i < Repos; i++) connections.Add(await h.ConnectRepoAsync(h.Api, $"chaos-{i}", WriteBackOn, installation));

        // Faults hit this test's installation only: its token requests, its repositories' API calls and archive downloads.
        var random = new Random(Seed);
        var injected = new Dictionary<string, int>();
        var seen = 0;
        var tokenPath = $"/app/installations/{installation.Id}/access_tokens";
        h.GitHub.FaultSelector = (method, path) =>
        {
            if (!path.Contains("/chaos-co/", StringComparison.Ordinal) && !path.Contains(tokenPath, StringComparison.Ordinal)) return null;
            lock (random)
            {
                seen++;
                if (random.NextDouble() >= FaultRate) return null;
                var (name, fault) = random.Next(5) switch
                {
                    0 => ("5xx", Fault.ServerError(path, statusCode: random.Next(3) switch { 0 => 500, 1 => 502, _ => 503 })),
                    1 => ("429 + Retry-After", Fault.SecondaryRateLimit(path, retryAfterSeconds: random.Next(10) == 0 ? 1 : 0, statusCode: 429)),
                    2 => ("reset before acting", Fault.ConnectionReset(path)),
                    3 => ("reset after acting", Fault.ConnectionReset(path, afterActing: true)),
                    _ => ("acted then 502", Fault.ActedThenServerError(path)),
                };
                injected[name] = injected.GetValueOrDefault(name) + 1;
                return fault;
            }
        };

        var shas = new List<string>();
        try
        {
            // Each push is a new commit (distinct SHA and content) announced by its own webhook; the repositories in parallel.
            await Task.WhenAll(connections.Select(async c =>
            {
                for (var n = 1; n <= PushesPerRepo; n++)
                {
                    var sha = h.GitHub.PushCommit(c.Repo, "main", GitHubHarness.Skill(c.Repo.Name, extra: $"revision {n}"));
                    lock (shas) shas.Add(sha);
                    await h.SendPushAsync(installation, c.Repo, "refs/heads/main", sha);
                }
            }));
            output.WriteLine($"{shas.Count} pushes sent after {clock.Elapsed.TotalSeconds:0.0} s");
            foreach (var c in connections)
            {
                await h.WaitForFinishedAttemptsAsync(c.ConnectionId, PushesPerRepo, TimeSpan.FromSeconds(120));
                await h.WaitForConnectionJobsAsync(c.ConnectionId, TimeSpan.FromSeconds(60));
            }
        }
        finally
        {
            h.GitHub.FaultSelector = null;
        }
        var elapsed = clock.Elapsed;

        var connectionIds = connections.Select(c => c.ConnectionId).ToHashSet();
        var attempts = await h.App.WithDbAsync(db => db.Attempts.AsNoTracking().Where(a => connectionIds.Contains(a.ConnectionId)).ToListAsync());
        var entryIds = connections.Select(c => Guid.Parse(c.EntryId)).ToHashSet();
        var versions = await h.App.WithDbAsync(db => db.Versions.AsNoTracking().Where(v => entryIds.Contains(v.EntryId))
            .Select(v => new { v.EntryId, v.Version, v.SourceRef }).ToListAsync());
        var repoIds = connections.Select(c => c.Repo.Id).ToHashSet();
        var runs = h.GitHub.CheckRuns.Where(r => repoIds.Contains(r.RepoId)).ToList();

        // A second version of one commit would be 0.0.0-github.<sha7>.1 with the same source_ref.
        var duplicateVersions = versions.GroupBy(v => (v.EntryId, v.SourceRef)).Sum(g => g.Count() - 1);
        var duplicateRuns = runs.GroupBy(r => (r.HeadSha, r.Name)).Sum(g => g.Count() - 1);
        var runsInProgress = runs.Count(r => r.Status != "completed");

        output.WriteLine($"pushes: {shas.Count}, attempts: {attempts.Count}, in {elapsed.TotalSeconds:0.0} s (seed {Seed})");
        output.WriteLine($"GitHub requests: {seen}, faults injected: {injected.Values.Sum()} — "
            + string.Join(", ", injected.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}")));
        output.WriteLine("attempts: " + string.Join(", ", attempts.GroupBy(a => a.Status).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));
        output.WriteLine("write-back: " + string.Join(", ", attempts.GroupBy(a => a.WriteBackStatus).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));
        output.WriteLine($"versions: {versions.Count}, duplicate versions: {duplicateVersions}");
        output.WriteLine($"check runs: {runs.Count}, duplicate check runs: {duplicateRuns}, left in_progress: {runsInProgress}");
        foreach (var a in attempts.Where(a => a.Status != AttemptStatus.Published || a.WriteBackStatus != WriteBackStatus.Success))
            output.WriteLine($"  {a.Status} / write-back {a.WriteBackStatus}: {a.Message}");

        Assert.Equal(Repos * PushesPerRepo, shas.Distinct().Count());
        Assert.Equal(shas.Count, attempts.Count);
        Assert.Equal(shas.Order(), attempts.Select(a => a.CommitSha!).Order());
        Assert.All(attempts, a => Assert.True(
            a.Status == AttemptStatus.Published || (a.Status == AttemptStatus.Failed && !string.IsNullOrWhiteSpace(a.Message)),
            $"attempt {a.Id}: {a.Status}: {a.Message}"));
        Assert.All(attempts.Where(a => a.WriteBackStatus == WriteBackStatus.Failed), a => Assert.Contains("Write-back to GitHub failed", a.Message));
        Assert.All(attempts, a => Assert.True(a.WriteBackStatus is WriteBackStatus.Success or WriteBackStatus.Failed, $"attempt {a.Id}: write-back {a.WriteBackStatus}"));
        Assert.Equal(0, duplicateVersions);
        Assert.Equal(attempts.Count(a => a.Status == AttemptStatus.Published), versions.Count);
        Assert.Equal(0, duplicateRuns);
        Assert.Equal(0, runsInProgress);
        foreach (var a in attempts.Where(a => a.WriteBackStatus == WriteBackStatus.Success))
        {
            var run = Assert.Single(runs, r => r.ExternalId == a.Id.ToString());
            Assert.Equal(a.CheckRunId, run.Id.ToString());
            Assert.Equal(a.Status == AttemptStatus.Published ? "success" : "failure", run.Conclusion);
        }
        Assert.Empty(h.GitHub.InternalErrors);
    }
}
