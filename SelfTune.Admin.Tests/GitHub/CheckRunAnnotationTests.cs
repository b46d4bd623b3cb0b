using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.Tests.Fakes;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Check runs that point at the problem (issue 13): each problem the validator finds in a push is an annotation on its
/// file in the commit's check run — refusals as failures, Agent Skills warnings as warnings — sent in requests of at most
/// 50 as GitHub demands; a commit status, which has no annotations, says how many problems there are.
/// </summary>
public sealed class CheckRunAnnotationTests(GitHubHarness h) : IClassFixture<GitHubHarness>
{
    const string SkillPath = "skills/demo";

    static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);

    static Dictionary<string, byte[]> SkillAt(string folder, string frontMatterExtra = "") => new()
    {
        [$"{folder}/SKILL.md"] = Text($"---\nname: demo\ndescription: A test skill\n{frontMatterExtra}---\n# Demo\n"),
        [$"{folder}/README.md"] = Text("hello"),
    };

    /// <summary>A repository with a valid skill under skills/demo, connected with write-back on.</summary>
    Task<GitHubHarness.Connected> ConnectAsync(string name, bool checksWrite = true) =>
        h.ConnectRepoAsync(h.Api, name, new { write_back_enabled = true, skill_path = SkillPath }, checksWrite: checksWrite,
            files: SkillAt(SkillPath));

    /// <summary>Pushes <paramref name="files"/> to main and waits for the attempt of that commit to finish.</summary>
    async Task<(string Sha, PublishAttempt Attempt)> PushAsync(GitHubHarness.Connected c, IDictionary<string, byte[]> files,
        IDictionary<string, string>? symlinks = null)
    {
        var sha = h.GitHub.PushCommit(c.Repo, "main", files, symlinks: symlinks);
        var delivery = await h.SendPushAsync(c.Installation, c.Repo, "refs/heads/main", sha);
        await h.WaitForDeliveryAsync(delivery);
        await h.WaitForConnectionJobsAsync(c.ConnectionId);
        var attempt = (await h.AttemptsAsync(c.ConnectionId)).Single(a => a.CommitSha == sha);
        return (sha, attempt);
    }

    FakeCheckRun RunOf(GitHubHarness.Connected c, string sha) => Assert.Single(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id && r.HeadSha == sha);

    [Fact]
    public async Task A_push_with_three_problems_shows_each_on_its_file_as_a_failure_or_a_warning()
    {
        var c = await ConnectAsync("ann-three");
        var files = SkillAt(SkillPath, frontMatterExtra: "owner: team-a\n");
        files[$"{SkillPath}/keys/id_rsa"] = Text("-----BEGIN OPENSSH PRIVATE KEY-----");

        var (sha, attempt) = await PushAsync(c, files, symlinks: new Dictionary<string, string> { [$"{SkillPath}/shared"] = "../../shared" });

        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
        Assert.StartsWith("2 problems:", attempt.Message); // the two refusals; the warning does not stop a publish
        var run = RunOf(c, sha);
        Assert.Equal("failure", run.Conclusion);
        var annotations = h.GitHub.AnnotationsOf(run.Id).OrderBy(a => a.Path, StringComparer.Ordinal).ToList();
        Assert.Equal(
            new[] { ($"{SkillPath}/SKILL.md", "warning"), ($"{SkillPath}/keys/id_rsa", "failure"), ($"{SkillPath}/shared", "failure") },
            annotations.Select(a => (a.Path, a.Level)));
        Assert.Contains("does not define ('owner')", annotations[0].Message);
        Assert.Contains("looks like a secret", annotations[1].Message);
        Assert.Contains("symbolic link", annotations[2].Message);
        Assert.All(annotations, a => Assert.Equal((1, 1), (a.StartLine, a.EndLine)));
        Assert.Equal(new[] { 3 }, h.GitHub.AnnotationRequestsOf(run.Id));
    }

    [Fact]
    public async Task A_push_with_120_problems_sends_all_of_them_in_requests_of_at_most_50()
    {
        var c = await ConnectAsync("ann-many");
        var files = SkillAt(SkillPath);
        var secrets = Enumerable.Range(1, 120).Select(i => $"{SkillPath}/keys/k{i:000}.pem").ToList();
        foreach (var path in secrets) files[path] = Text("-----BEGIN PRIVATE KEY-----");

        var (sha, attempt) = await PushAsync(c, files);

        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
        Assert.StartsWith("120 problems:", attempt.Message);
        var run = RunOf(c, sha);
        Assert.Equal("failure", run.Conclusion);
        Assert.Equal(new[] { 50, 50, 20 }, h.GitHub.AnnotationRequestsOf(run.Id));
        var annotations = h.GitHub.AnnotationsOf(run.Id);
        Assert.Equal(secrets, annotations.Select(a => a.Path).Order(StringComparer.Ordinal));
        Assert.All(annotations, a => Assert.Equal("failure", a.Level));
        Assert.Empty(h.GitHub.InternalErrors);
    }

    [Fact]
    public async Task A_published_version_with_warnings_has_them_as_warnings_on_SKILL_md_and_succeeds()
    {
        var c = await ConnectAsync("ann-warn");

        var (sha, attempt) = await PushAsync(c, SkillAt(SkillPath, frontMatterExtra: "owner: team-a\n"));

        Assert.Equal(AttemptStatus.Published, attempt.Status);
        var run = RunOf(c, sha);
        Assert.Equal("success", run.Conclusion);
        var annotations = h.GitHub.AnnotationsOf(run.Id);
        Assert.All(annotations, a => Assert.Equal(($"{SkillPath}/SKILL.md", "warning"), (a.Path, a.Level)));
        // The unknown key, and SKILL.md's name "demo" unlike the entry's "ann-warn".
        Assert.Equal(2, annotations.Count);
        Assert.Contains(annotations, a => a.Message.Contains("'owner'"));
        Assert.Contains(annotations, a => a.Message.Contains("the registry entry is \"ann-warn\""));
    }

    [Fact]
    public async Task A_problem_the_validator_places_on_a_line_is_annotated_on_that_line()
    {
        var c = await ConnectAsync("ann-line");
        var files = SkillAt(SkillPath);
        // Line 1 '---', line 2 name, line 3 description with a YAML anchor, which the validator refuses.
        files[$"{SkillPath}/SKILL.md"] = Text("---\nname: demo\ndescription: &text A test skill\n---\n# Demo\n");

        var (sha, attempt) = await PushAsync(c, files);

        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        var annotation = Assert.Single(h.GitHub.AnnotationsOf(RunOf(c, sha).Id));
        Assert.Equal(($"{SkillPath}/SKILL.md", "failure", 3, 3), (annotation.Path, annotation.Level, annotation.StartLine, annotation.EndLine));
        Assert.Contains("anchor", annotation.Message);
    }

    [Fact]
    public async Task A_commit_status_has_no_annotations_and_says_how_many_problems_in_at_most_140_characters()
    {
        var c = await ConnectAsync("ann-status", checksWrite: false);
        var files = SkillAt(SkillPath);
        foreach (var i in Enumerable.Range(1, 3)) files[$"{SkillPath}/keys/k{i}.pem"] = Text("-----BEGIN PRIVATE KEY-----");

        var (sha, attempt) = await PushAsync(c, files);

        Assert.Equal(AttemptStatus.Failed, attempt.Status);
        Assert.Equal(WriteBackStatus.Success, attempt.WriteBackStatus);
        Assert.DoesNotContain(h.GitHub.CheckRuns, r => r.RepoId == c.Repo.Id && r.HeadSha == sha);
        var status = h.GitHub.Statuses.Where(s => s.RepoId == c.Repo.Id && s.Sha == sha).MaxBy(s => s.Id)!;
        Assert.Equal("failure", status.State);
        Assert.Contains("3 problems", status.Description);
        Assert.True(status.Description!.Length <= 140, status.Description);
    }
}

/// <summary>
/// One limiter per installation (issue 13): GitHub allows about 80 content-creating requests a minute; writes past that
/// wait for the window to move on (on the app's clock), and another installation is not held up.
/// </summary>
public sealed class InstallationWriteLimiterTests
{
    static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    static InstallationWriteLimiter Limiter(FakeTimeProvider clock, int writesPerMinute = 80) =>
        new(Options.Create(new GitHubOptions { WritesPerMinute = writesPerMinute }), clock);

    static void AdvanceBy(FakeTimeProvider clock, TimeSpan span)
    {
        for (var t = TimeSpan.Zero; t < span; t += Step) clock.Advance(Step); // a waiting write wakes at its moment
    }

    [Fact]
    public async Task Writes_past_80_a_minute_wait_a_full_window_and_another_installation_is_not_delayed()
    {
        var clock = new FakeTimeProvider();
        var limiter = Limiter(clock);

        var writes = Enumerable.Range(0, 100).Select(_ => limiter.WaitAsync(1, CancellationToken.None)).ToList();
        await Task.WhenAll(writes.Take(80)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(writes.Skip(80), w => Assert.False(w.IsCompleted));

        // Another installation's write goes through at once while installation 1's extra 20 wait.
        Assert.True(limiter.WaitAsync(2, CancellationToken.None).IsCompletedSuccessfully);

        AdvanceBy(clock, InstallationWriteLimiter.Window - Step);
        Assert.All(writes.Skip(80), w => Assert.False(w.IsCompleted)); // 50 s: the first 80 are still inside the window

        AdvanceBy(clock, Step);
        await Task.WhenAll(writes.Skip(80)).WaitAsync(TimeSpan.FromSeconds(10)); // 60 s: they slid out, the 20 go
    }

    [Fact]
    public async Task A_waiting_write_can_be_cancelled()
    {
        var clock = new FakeTimeProvider();
        var limiter = Limiter(clock, writesPerMinute: 1);
        await limiter.WaitAsync(7, CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var waiting = limiter.WaitAsync(7, cancel.Token);
        Assert.False(waiting.IsCompleted);
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task A_write_that_would_wait_more_than_five_minutes_fails_at_once_in_words_and_the_others_go_in_order()
    {
        var clock = new FakeTimeProvider();
        var limiter = Limiter(clock, writesPerMinute: 2);
        await limiter.WaitAsync(7, CancellationToken.None);
        await limiter.WaitAsync(7, CancellationToken.None);
        // Two a minute: the next ten get the next five minutes; the eleventh and twelfth would have to wait six.
        var queued = Enumerable.Range(0, 12).Select(_ => limiter.WaitAsync(7, CancellationToken.None)).ToList();

        foreach (var late in queued.Skip(10))
        {
            var failure = await Assert.ThrowsAsync<GitHubWriteLimitException>(() => late); // at once: no time has passed
            Assert.Equal("SelfTune would have to hold this write back more than 5 minutes to stay within GitHub's limit of 2 writes a minute for the installation", failure.Message);
        }
        for (var minute = 1; minute <= 5; minute++)
        {
            Assert.All(queued.Skip(2 * (minute - 1)).Take(10 - 2 * (minute - 1)), w => Assert.False(w.IsCompleted));
            AdvanceBy(clock, InstallationWriteLimiter.Window);
            await Task.WhenAll(queued.Skip(2 * (minute - 1)).Take(2)).WaitAsync(TimeSpan.FromSeconds(10)); // two a minute, in order
        }
        // The failed two took no moment: the budget of the sixth minute is free.
        AdvanceBy(clock, InstallationWriteLimiter.Window);
        Assert.True(limiter.WaitAsync(7, CancellationToken.None).IsCompletedSuccessfully);
    }
}
