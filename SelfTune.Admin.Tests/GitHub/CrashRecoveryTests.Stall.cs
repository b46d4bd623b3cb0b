using System.Globalization;
using System.Net;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Jobs;
using SelfTune.Admin.Tests.Fakes;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 8, item 4: how long a crash holds up a connection's publishing. A publish job is stuck in its tarball download
/// when the app is killed; its claim would hold it for the rest of the lease. A restarted app takes it back at once; a
/// second instance that was running all along takes it over when the lease ends.
/// </summary>
public sealed partial class CrashRecoveryTests
{
    /// <summary>What a stalled connection may wait after a crash (SPEC section 8: the queue survives a restart).</summary>
    static readonly TimeSpan MaxStall = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task After_a_kill_the_restarted_app_takes_back_the_held_publish_job_at_once_with_the_default_lease()
    {
        var installation = gh.AddInstallation("stall-co");
        var repo = gh.AddRepo(installation, "stall-co", "skills");

        // ---- Run 1, default lease (30 s): the publish job hangs in the tarball download until the kill.
        var hang = gh.InjectFault(Fault.Timeout("/tarball/", TimeSpan.FromMinutes(5)));
        var first = await StartAppAsync(workers: 1, attemptTimeout: TimeSpan.FromMinutes(2), lease: null);
        var (connection, job) = await PushAndWaitUntilThePublishJobHangsAsync(first, installation, repo, hang);
        Assert.Contains($":{first.ProcessId}:", job.LockedBy);
        Assert.True(job.LockedUntil - DateTimeOffset.UtcNow > TimeSpan.FromSeconds(15), $"default lease: held until {job.LockedUntil:O}");

        await first.KillAsync();
        var killedAt = DateTimeOffset.UtcNow;
        var heldUntil = (await ReadDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.Id == job.Id))).LockedUntil!.Value;

        // ---- Run 2 on the same data folder, GitHub healthy again.
        gh.ClearFaults();
        var second = await StartAppAsync(workers: 1, attemptTimeout: TimeSpan.FromSeconds(3), lease: null);
        var readyAt = DateTimeOffset.UtcNow;
        var done = await WaitForJobAsync(job.Id, j => j.State is JobState.Succeeded or JobState.Failed, MaxStall + TimeSpan.FromSeconds(15),
            "the held publish job to finish", second);

        var stall = done.FinishedAt!.Value - readyAt;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"STALL after SIGKILL + restart (default lease {new JobOptions().Lease.TotalSeconds:0} s): publishing stalled {stall.TotalSeconds:0.0} s " +
            $"from the restarted app being ready to the held publish job finishing. From the kill: ready at +{(readyAt - killedAt).TotalSeconds:0.0} s, " +
            $"finished at +{(done.FinishedAt.Value - killedAt).TotalSeconds:0.0} s; the dead claim's lease ran until +{(heldUntil - killedAt).TotalSeconds:0.0} s."));

        Assert.True(stall <= MaxStall, $"publishing stalled {stall} after the restart");
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal(2, done.Attempts); // the killed run counts
        Assert.Contains($":{second.ProcessId}:", done.LockedBy);
        // Given back by the restarted worker at start-up, not freed by the lease running out.
        Assert.Contains($"Took back 1 running job(s) of dead worker(s) {job.LockedBy} on this machine", second.Output, StringComparison.Ordinal);
        using var api = second.CreateClient(apiKey);
        var attempt = Assert.Single(await AttemptsAsync(api, connection));
        Assert.Equal("published", Status(attempt));
    }

    [Fact]
    public async Task A_second_instance_takes_over_a_killed_instances_publish_job_when_its_lease_ends()
    {
        var lease = TimeSpan.FromSeconds(3); // short so the test is quick; the restart test uses the default
        var installation = gh.AddInstallation("takeover-co");
        var repo = gh.AddRepo(installation, "takeover-co", "skills");

        var hang = gh.InjectFault(Fault.Timeout("/tarball/", TimeSpan.FromMinutes(5)));
        var a = await StartAppAsync(workers: 1, attemptTimeout: TimeSpan.FromMinutes(2), lease);
        var (connection, job) = await PushAndWaitUntilThePublishJobHangsAsync(a, installation, repo, hang);

        // Instance B on the same database file and machine, started while A is alive: its start-up must leave A's job
        // alone (A's pid is running), and A keeps renewing the lease meanwhile.
        var b = await StartAppAsync(workers: 1, attemptTimeout: TimeSpan.FromSeconds(3), lease);
        await WaitUntilAsync(() => Task.FromResult(b.Output.Contains("Job worker ", StringComparison.Ordinal) && b.Output.Contains(" started with ", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(30), () => "instance B's job worker to start", b);
        Assert.Contains("took back 0 jobs of dead workers", b.Output, StringComparison.Ordinal);
        await WaitUntilAsync(async () => (await ReadDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.Id == job.Id))).LockedUntil > job.LockedUntil,
            TimeSpan.FromSeconds(30), () => "A to renew its lease", a);
        var held = await ReadDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.Id == job.Id));
        Assert.Equal((JobState.Running, job.LockedBy, 1), (held.State, held.LockedBy, held.Attempts));

        // ---- A dies; B is not restarted, so only the lease frees the job.
        await a.KillAsync();
        var killedAt = DateTimeOffset.UtcNow;
        var leaseEnd = (await ReadDbAsync(db => db.Jobs.AsNoTracking().SingleAsync(j => j.Id == job.Id))).LockedUntil!.Value;
        gh.ClearFaults();
        var done = await WaitForJobAsync(job.Id, j => j.State is JobState.Succeeded or JobState.Failed, MaxStall,
            "instance B to take over and finish the publish job", b);

        var afterKill = done.FinishedAt!.Value - killedAt;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"TAKEOVER by a live second instance (lease {lease.TotalSeconds:0} s): the publish job finished {afterKill.TotalSeconds:0.0} s after the kill " +
            $"(the dead claim's lease ended {(leaseEnd - killedAt).TotalSeconds:0.0} s after it)."));

        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal(2, done.Attempts); // the killed run counts
        Assert.Contains($":{b.ProcessId}:", done.LockedBy);
        Assert.True(done.FinishedAt > leaseEnd, "B can only claim the job once A's lease has ended");
        Assert.True(afterKill <= lease + MaxStall, $"the job finished {afterKill} after the kill");
        using var api = b.CreateClient(apiKey);
        var attempt = Assert.Single(await AttemptsAsync(api, connection));
        Assert.Equal("published", Status(attempt));
    }

    /// <summary>Binds the installation, connects the repository, pushes one commit and waits until its publish job is
    /// claimed and stuck in the tarball download. Returns the connection and the Running job as stored.</summary>
    async Task<(Guid Connection, Job Job)> PushAndWaitUntilThePublishJobHangsAsync(AppProcess app, FakeInstallation installation, FakeRepo repo, Fault hang)
    {
        using var api = app.CreateClient(apiKey);
        await BindAsync(api, installation);
        var connection = await ConnectAsync(api, await CreateEntryAsync(api, repo.Name), installation, repo, writeBack: false);
        var sha = gh.PushCommit(repo, "main", GitHubHarness.Skill(repo.Name));
        using (var response = await SendWebhookAsync(app, "push", gh.Payloads.Push(repo, "refs/heads/main", after: sha), Guid.NewGuid().ToString()))
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitForJobAsync(null, j => j.Kind == PublishJobs.Publish && j.State == JobState.Running && hang.Remaining == 0,
            TimeSpan.FromSeconds(30), "the publish job to be running and stuck in the tarball download", app);
        return (connection, job);
    }

    /// <summary>A bounded poll of the database for a job (by id, or the first publish job) matching <paramref name="done"/>.</summary>
    async Task<Job> WaitForJobAsync(long? id, Func<Job, bool> done, TimeSpan timeout, string what, AppProcess app)
    {
        Job? found = null;
        await WaitUntilAsync(async () =>
        {
            var jobs = await ReadDbAsync(db => db.Jobs.AsNoTracking().Where(j => id == null || j.Id == id).ToListAsync());
            found = jobs.FirstOrDefault(done);
            return found is not null;
        }, timeout, () => what, app);
        return found!;
    }
}
