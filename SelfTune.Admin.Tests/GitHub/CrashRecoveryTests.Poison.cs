using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Tests.Fakes;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 8, item 1, end to end through GitHub: a pushed SKILL.md whose front matter nests 50,000 flow sequences used to
/// overflow the stack in YAML parsing, and a StackOverflowException ends the process (it cannot be caught), so one push
/// took the whole app down, and with it every connection's queue. The app runs as a real child process here, so a
/// crash would show as the process exiting rather than as a failed test host.
/// </summary>
public sealed partial class CrashRecoveryTests
{
    [Fact]
    public async Task A_pushed_SKILL_md_with_hostile_front_matter_fails_its_attempt_and_the_process_lives_on_and_publishes_the_next_push()
    {
        var clock = Stopwatch.StartNew();
        var installation = gh.AddInstallation("poison-co"); // checks: write by default
        var repo = gh.AddRepo(installation, "poison-co", "skills");
        var app = await StartAppAsync(workers: 1, attemptTimeout: TimeSpan.FromSeconds(30), Lease);
        Log($"app ready (pid {app.ProcessId})", clock);
        using var api = app.CreateClient(apiKey);
        await BindAsync(api, installation);
        var entry = await CreateEntryAsync(api, "skills");
        var connection = await ConnectAsync(api, entry, installation, repo, writeBack: true);

        async Task<JsonObject> PushAndWaitAsync(Dictionary<string, byte[]> files, string what)
        {
            var sha = gh.PushCommit(repo, "main", files);
            var deliveryId = Guid.NewGuid().ToString();
            using (var response = await SendWebhookAsync(app, "push", gh.Payloads.Push(repo, "refs/heads/main", after: sha), deliveryId))
                Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            JsonObject? attempt = null;
            await WaitUntilAsync(async () =>
                {
                    try
                    {
                        attempt = (await AttemptsAsync(api, connection)).SingleOrDefault(a => a["delivery_id"]?.GetValue<string>() == deliveryId);
                    }
                    catch (HttpRequestException) when (app.HasExited)
                    {
                        return false; // WaitUntilAsync reports the exit, with the app's output (a stack overflow's trace)
                    }
                    return attempt is not null && Finished(attempt);
                },
                TimeSpan.FromSeconds(60), () => $"the attempt of the {what} push to finish (last seen: {attempt?.ToJsonString() ?? "none"})", app);
            Assert.Equal(sha, attempt!["source_ref"]!.GetValue<string>());
            Log($"{what}: {Status(attempt)}", clock);
            return attempt;
        }

        // ---- The document of issue 8: 50,000 '[' then 50,000 ']' (about 100 KB of front matter, over the 64 KiB bound).
        var brackets = await PushAndWaitAsync(SkillWithDescription(new string('[', 50_000) + new string(']', 50_000)), "50,000 brackets");
        await AssertRefusedAsync(brackets, "over the 64 KiB limit");

        // ---- 40 levels of nesting: small enough to pass the size bound, so the depth bound has to refuse it.
        var deep = await PushAndWaitAsync(SkillWithDescription(new string('[', 40) + new string(']', 40)), "40 levels deep");
        await AssertRefusedAsync(deep, "more than 32 levels deep");

        // ---- The connection's queue is not held up: the next valid push publishes, from the same process.
        var valid = await PushAndWaitAsync(GitHubHarness.Skill("skills", extra: "after the poison"), "valid");
        Assert.True(Status(valid) == "published", valid.ToJsonString());
        var sha = valid["source_ref"]!.GetValue<string>();
        Assert.Equal(PublishService.PrereleasePrefix + sha[..7], valid["version"]!.GetValue<string>());
        var versions = (await api.GetFromJsonAsync<JsonObject>($"/api/v1/registry/{entry}/versions"))!["versions"]!.AsArray();
        Assert.Equal(new[] { PublishService.PrereleasePrefix + sha[..7] }, versions.Select(v => v!["version"]!.GetValue<string>()));
        var validRun = Assert.Single(gh.CheckRuns, r => r.ExternalId == valid["id"]!.GetValue<string>());
        Assert.Equal(("completed", "success"), (validRun.Status, validRun.Conclusion));

        // Three attempts, each with its own check run; all jobs done, nothing left running, still the one process.
        Assert.Equal(3, (await AttemptsAsync(api, connection)).Count);
        Assert.Equal(3, gh.CheckRuns.Count(r => r.RepoId == repo.Id));
        List<Job> jobs = [];
        await WaitUntilAsync(async () =>
        {
            jobs = await ReadDbAsync(db => db.Jobs.AsNoTracking().ToListAsync());
            return jobs.All(j => j.State is not JobState.Running);
        }, TimeSpan.FromSeconds(60), () => "every job to be recorded", app);
        Assert.All(jobs, j => Assert.True(j.State is JobState.Succeeded or JobState.Failed, $"job {j.Id} ({j.Kind}): {j.State}, {j.LastError}"));
        Assert.False(app.HasExited);
        Assert.Single(apps);
        Assert.Empty(gh.InternalErrors);
        Assert.Empty(gh.UnknownRouteRequests);
        Log("done", clock);

        // A refused push: the attempt failed naming SKILL.md and the bound, its publish job is finished (not running or
        // waiting for a retry), its check run concluded as a failure, and the process is alive and answering.
        async Task AssertRefusedAsync(JsonObject attempt, string bound)
        {
            Assert.True(Status(attempt) == "failed", attempt.ToJsonString());
            var message = attempt["message"]!.GetValue<string>();
            Assert.StartsWith("SKILL.md front matter ", message, StringComparison.Ordinal);
            Assert.Contains(bound, message, StringComparison.Ordinal);
            Assert.Null(attempt["version"]?.GetValue<string>());

            var id = attempt["id"]!.GetValue<string>();
            // The attempt's end is saved before the worker records the job's outcome: wait for that record.
            Job? job = null;
            await WaitUntilAsync(async () =>
            {
                job = Assert.Single(await ReadDbAsync(db => db.Jobs.AsNoTracking().Where(j => j.Kind == PublishJobs.Publish).ToListAsync()),
                    j => j.Payload.Contains(id, StringComparison.OrdinalIgnoreCase));
                return job.State is not JobState.Running;
            }, TimeSpan.FromSeconds(60), () => $"publish job {job?.Id} to be recorded", app);
            Assert.True(job!.State is JobState.Succeeded or JobState.Failed, $"publish job {job.Id}: {job.State}, {job.LastError}");
            Assert.Equal(1, job.Attempts); // refused once, not retried

            var run = Assert.Single(gh.CheckRuns, r => r.ExternalId == id);
            Assert.Equal(repo.Id, run.RepoId);
            Assert.Equal(("completed", "failure"), (run.Status, run.Conclusion));

            Assert.False(app.HasExited, $"the app exited:\n{app.Output}");
            using var http = app.CreateClient(apiKey: null);
            using var health = await http.GetAsync(new Uri(app.BaseAddress, "/healthz"));
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Contains(await AttemptsAsync(api, connection), a => a["id"]!.GetValue<string>() == id);
        }
    }

    static Dictionary<string, byte[]> SkillWithDescription(string description) => new()
    {
        ["SKILL.md"] = Encoding.UTF8.GetBytes($"---\nname: skills\ndescription: {description}\n---\n# skills\n\nDo the thing.\n"),
    };
}
