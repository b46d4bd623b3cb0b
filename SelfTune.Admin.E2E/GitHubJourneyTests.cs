using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using SelfTune.Admin.Tests.Fakes;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>
/// Journeys 2, 3, 4 and 6: the operator connects a repository in the browser, watches webhooks and Sync now publish live,
/// sees a failure with its reason, and finds the published version with its provenance in the registry. They run in
/// order (by method name) on one app: each starts where the previous one left off.
/// </summary>
[Collection(GitHubJourneys.Name)]
[TestCaseOrderer(ByMethodName.TypeName, ByMethodName.Assembly)]
public sealed class GitHubJourneyTests(GitHubE2EApp app, GitHubScenario scenario) : IClassFixture<GitHubScenario>
{
    static readonly Regex ConnectionUrl = new(@"/connections/(?<id>[0-9a-f-]{36})$");

    // A publish is a background job (tarball download, repack, write-back); on a 2-core machine running a build beside
    // the suite one took over the 10 s default (the attempt was still running, its check run created). The page must
    // show the outcome live, not within a particular time, so these waits get more room.
    static readonly LocatorAssertionsToContainTextOptions PublishShows = new() { Timeout = 45_000 };
    static readonly LocatorAssertionsToHaveAttributeOptions PublishEnds = new() { Timeout = 45_000 };

    [Fact]
    public async Task J2_Operator_installs_binds_picks_a_repository_configures_and_lands_on_the_connection()
    {
        await scenario.ArrangeAsync(app);
        var page = await app.SignInAsync(OidcProvider.Alice, "/settings/github");

        // Install: the browser goes to GitHub's install page, which (user authorization on install) sends it to the App's
        // callback with a code, installation_id and state; the callback proves Alice's GitHub account can access it, binds,
        // and sends the browser back here. Still one click.
        await Expect(page.GetByTestId("installations-empty")).ToBeVisibleAsync();
        await E2EApp.ScreenshotAsync(page, "j2-01-install");
        await page.GetByTestId("install-app").ClickAsync();

        // Bound: the account is the one GitHub reports for the installation; the address loses GitHub's parameters.
        await Expect(page.GetByTestId("bind-success")).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/settings/github$"));
        await Expect(page.GetByTestId("account-login")).ToHaveTextAsync(GitHubScenario.Account);
        await Expect(page.GetByTestId("account-type")).ToHaveTextAsync("Organization");
        await Expect(page.GetByTestId("account-permissions")).ToContainTextAsync("checks");
        await E2EApp.ScreenshotAsync(page, "j2-02-bound");

        // Repository: shared-skill is already connected by another org, and says so.
        await page.GetByTestId("to-repositories").ClickAsync();
        var shared = RepoRow(page, scenario.Shared.FullName);
        var skills = RepoRow(page, scenario.Skills.FullName);
        await Expect(shared.GetByTestId("connected-elsewhere")).ToBeVisibleAsync();
        await Expect(skills.GetByTestId("connected-elsewhere")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("connected-elsewhere-note")).ToBeVisibleAsync();
        await E2EApp.ScreenshotAsync(page, "j2-03-repositories");
        await skills.GetByTestId("select-repo").ClickAsync();

        // Configure: the tag pattern is checked against the repository's tags as it stands.
        await Expect(page.GetByTestId("configure-repo")).ToHaveTextAsync(scenario.Skills.FullName);
        var v100 = page.Locator("[data-testid=tag-row][data-tag='v1.0.0']");
        var v11 = page.Locator("[data-testid=tag-row][data-tag='v1.1']");
        await Expect(v100).ToHaveAttributeAsync("data-publishes", "true");
        await Expect(v100.GetByTestId("tag-version")).ToHaveTextAsync("1.0.0");
        await Expect(v11).ToHaveAttributeAsync("data-publishes", "false");
        await Expect(v11.GetByTestId("tag-skip-reason")).ToContainTextAsync("v1.1");
        await Expect(page.GetByTestId("tag-summary")).ToContainTextAsync("1 would publish · 1 skipped");
        await Expect(page.GetByTestId("skill-folder")).ToHaveTextAsync(".");
        await Input(page, "new-entry-name").FillAsync(GitHubScenario.EntryName);
        await Input(page, "new-entry-description").FillAsync("Summarises long PDF reports into a one-page brief.");
        await Expect(Input(page, "write-back")).ToBeCheckedAsync();
        await Expect(Input(page, "auto-publish")).ToBeCheckedAsync();
        await Expect(page.GetByTestId("create-connection")).ToBeEnabledAsync();
        await E2EApp.ScreenshotAsync(page, "j2-04-configure");

        // Create lands on the connection page and publishes at once what the preview promised: main's head and the newest
        // matching tag (v1.0.0). GitHub is held while the first archive downloads, so the sync is there to see in progress.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.GitHub.InjectFault(Fault.Hold($"{scenario.Skills.FullName}/tarball/", held.Task));
        var timeline = page.GetByTestId("timeline");
        try
        {
            await page.GetByTestId("create-connection").ClickAsync();
            await Expect(page).ToHaveURLAsync(ConnectionUrl);
            await Expect(page.GetByTestId("connection-title")).ToHaveTextAsync(GitHubScenario.EntryName);
            await Expect(page.GetByTestId("repo-link")).ToHaveTextAsync(scenario.Skills.FullName);
            await Expect(Input(page, "write-back-enabled")).ToBeCheckedAsync();
            await Expect(timeline.Locator("[data-testid=attempt-status][data-status=running]")).ToHaveCountAsync(1, new() { Timeout = 45_000 });
            await E2EApp.ScreenshotAsync(page, "j2-05-connection-first-sync");
        }
        finally
        {
            held.TrySetResult();
        }
        var first = Attempt(page, "0.0.0-github." + scenario.HeadSha[..7]);
        await Expect(first.GetByTestId("attempt-status")).ToHaveAttributeAsync("data-status", "published", PublishEnds);
        await Expect(first.GetByTestId("attempt-trigger")).ToHaveTextAsync("manual");
        await Expect(Attempt(page, "1.0.0").GetByTestId("attempt-status")).ToHaveAttributeAsync("data-status", "published", PublishEnds);
        await Expect(Attempt(page, "1.0.0").GetByTestId("attempt-ref")).ToContainTextAsync("v1.0.0");
        await Expect(page.GetByTestId("no-attempts")).ToHaveCountAsync(0);
        await E2EApp.ScreenshotAsync(page, "j2-05-connection-first-version");
        scenario.ConnectionId = Guid.Parse(ConnectionUrl.Match(page.Url).Groups["id"].Value);
        var entryHref = await page.GetByTestId("entry-link").GetAttributeAsync("href");
        scenario.EntryId = Guid.Parse(entryHref!.Split('/').Last());

        // Journey 1's last clause: a member of another org cannot open this connection by its address.
        var bob = await app.SignInAsync(OidcProvider.Bob, $"/connections/{scenario.ConnectionId}");
        await Expect(bob.GetByTestId("not-found")).ToBeVisibleAsync();
        await Expect(bob.GetByTestId("connection-title")).ToHaveCountAsync(0);
        await E2EApp.ScreenshotAsync(bob, "j2-06-other-org-not-found");
        await bob.Context.CloseAsync();
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task J3_Webhooks_and_sync_now_show_up_live_on_the_connection_page_and_post_check_runs()
    {
        var connectionId = scenario.ConnectionId ?? throw new InvalidOperationException("Journey 2 did not create the connection.");
        var gh = app.GitHub;
        var page = await app.SignInAsync(OidcProvider.Alice, $"/connections/{connectionId}");
        var timeline = page.GetByTestId("timeline");

        // A push to main publishes a prerelease; the page shows it without a reload.
        var sha = gh.PushCommit(scenario.Skills, "main", GitHubScenario.SkillFiles("with key figures"), "Add key figures");
        scenario.PushedSha = sha;
        var prerelease = "0.0.0-github." + sha[..7];
        await app.PostWebhookAsync("push", gh.Payloads.Push(scenario.Skills, "main"));
        await Expect(timeline).ToContainTextAsync(prerelease, PublishShows);
        await Expect(Attempt(page, prerelease).GetByTestId("attempt-status")).ToHaveAttributeAsync("data-status", "published", PublishEnds);
        await Expect(Attempt(page, prerelease).GetByTestId("write-back")).ToHaveAttributeAsync("data-status", "success", PublishEnds);
        await Expect(Attempt(page, prerelease).GetByTestId("attempt-trigger")).ToHaveTextAsync("push");
        await E2EApp.ScreenshotAsync(page, "j3-01-push-published");

        // A new tag publishes the release.
        gh.PushTag(scenario.Skills, "v1.2.0", sha);
        await app.PostWebhookAsync("create", gh.Payloads.Create(scenario.Skills, "v1.2.0"));
        await Expect(timeline).ToContainTextAsync("1.2.0", PublishShows);
        await Expect(Attempt(page, "1.2.0").GetByTestId("attempt-status")).ToHaveAttributeAsync("data-status", "published", PublishEnds);
        await Expect(Attempt(page, "1.2.0").GetByTestId("attempt-trigger")).ToHaveTextAsync("tag");
        await Expect(Attempt(page, "1.2.0").GetByTestId("attempt-ref")).ToContainTextAsync("v1.2.0");
        await Expect(Attempt(page, "1.2.0").GetByTestId("write-back")).ToHaveAttributeAsync("data-status", "success", PublishEnds);
        await E2EApp.ScreenshotAsync(page, "j3-02-tag-published");

        // Sync now: GitHub is held while the archive downloads, so the progress is there to see; then v1.3.0, which no
        // webhook announced (v1.0.0 was published when the connection was created), is published.
        gh.PushTag(scenario.Skills, "v1.3.0", scenario.FirstSha);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gh.InjectFault(Fault.Hold($"{scenario.Skills.FullName}/tarball/", release.Task));
        try
        {
            await page.GetByTestId("sync-now").ClickAsync();
            await Expect(page.GetByTestId("sync-now")).ToContainTextAsync("Syncing");
            await Expect(page.GetByTestId("sync-now")).ToBeDisabledAsync();
            await Expect(timeline.Locator("[data-testid=attempt-status][data-status=running]")).ToHaveCountAsync(1);
            await E2EApp.ScreenshotAsync(page, "j3-03-syncing");
        }
        finally
        {
            release.TrySetResult();
        }
        await Expect(page.Locator(".mud-snackbar")).ToContainTextAsync($"Sync published: Published 1.3.0 from {scenario.Skills.FullName}.");
        await Expect(page.GetByTestId("sync-now")).ToHaveTextAsync("Sync now");
        await Expect(Attempt(page, "1.3.0").GetByTestId("attempt-status")).ToHaveAttributeAsync("data-status", "published", PublishEnds);
        await Expect(Attempt(page, "1.3.0").GetByTestId("attempt-trigger")).ToHaveTextAsync("manual");
        await Expect(Attempt(page, "1.3.0").GetByTestId("write-back")).ToHaveAttributeAsync("data-status", "success", PublishEnds);
        await Expect(Attempt(page, "1.0.0").GetByTestId("write-back")).ToHaveAttributeAsync("data-status", "success", PublishEnds);
        // The sync re-read main too: already published, so unchanged.
        await Expect(timeline.Locator("[data-testid=attempt-status][data-status=unchanged]")).ToHaveCountAsync(1);
        await E2EApp.ScreenshotAsync(page, "j3-04-synced");

        // The check runs are on GitHub, completed, on the published commits.
        var runs = gh.CheckRuns.Where(r => r.RepoId == scenario.Skills.Id && r.Name == $"SelfTune publish: {GitHubScenario.EntryName}").ToList();
        Assert.Contains(runs, r => r.HeadSha == sha && r.Status == "completed" && r.Conclusion == "success" && r.Title!.Contains(prerelease));
        Assert.Contains(runs, r => r.HeadSha == sha && r.Conclusion == "success" && r.Title!.Contains("1.2.0"));
        Assert.Contains(runs, r => r.HeadSha == scenario.FirstSha && r.Conclusion == "success" && r.Title!.Contains("1.0.0"));
        Assert.Contains(runs, r => r.HeadSha == scenario.FirstSha && r.Conclusion == "success" && r.Title!.Contains("1.3.0"));
        Assert.Empty(gh.InternalErrors);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task J4_A_secret_in_the_skill_fails_the_attempt_with_the_file_named_and_a_failed_check_run()
    {
        var connectionId = scenario.ConnectionId ?? throw new InvalidOperationException("Journey 2 did not create the connection.");
        var gh = app.GitHub;
        var page = await app.SignInAsync(OidcProvider.Alice, $"/connections/{connectionId}");
        await Expect(page.GetByTestId("timeline")).ToBeVisibleAsync();

        var files = GitHubScenario.SkillFiles("with a key by mistake");
        files["keys/id_rsa"] = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n-----END OPENSSH PRIVATE KEY-----\n"u8.ToArray();
        var sha = gh.PushCommit(scenario.Skills, "main", files, "Add deploy key");
        await app.PostWebhookAsync("push", gh.Payloads.Push(scenario.Skills, "main"));

        var failed = page.GetByTestId("attempt").Filter(new() { Has = page.Locator("[data-testid=attempt-status][data-status=failed]") });
        await Expect(failed).ToHaveCountAsync(1);
        await Expect(failed.GetByTestId("attempt-message")).ToContainTextAsync("keys/id_rsa");
        await Expect(failed.GetByTestId("attempt-message")).ToContainTextAsync("looks like a secret");
        await Expect(failed.GetByTestId("attempt-ref")).ToContainTextAsync(sha[..7]);
        await Expect(failed.GetByTestId("write-back")).ToHaveAttributeAsync("data-status", "success", PublishEnds);
        await E2EApp.ScreenshotAsync(page, "j4-01-secret-failed");

        var run = Assert.Single(gh.CheckRuns, r => r.RepoId == scenario.Skills.Id && r.HeadSha == sha);
        Assert.Equal("completed", run.Status);
        Assert.Equal("failure", run.Conclusion);
        Assert.Contains("keys/id_rsa", run.Summary);

        // The deliveries page lists that push on top with what it came to; a click on its row opens it.
        await page.GotoAsync(new Uri(new Uri(app.BaseUrl), "deliveries").AbsoluteUri);
        await E2EApp.WaitForCircuitAsync(page); // the row's click is the circuit's: a click on the prerendered page is lost
        var top = page.Locator("[data-testid=deliveries] tbody tr").First;
        await Expect(top.GetByTestId("delivery-event")).ToHaveTextAsync("push");
        await Expect(top.GetByTestId("delivery-outcome")).ToHaveAttributeAsync("data-result", "failed");
        await E2EApp.ScreenshotAsync(page, "j4-02-deliveries");
        var deliveryId = await top.GetByTestId("delivery-link").TextContentAsync();
        await top.GetByTestId("delivery-event").ClickAsync();
        await Expect(page.GetByTestId("delivery-id")).ToHaveTextAsync(deliveryId!);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task J6_The_registry_shows_the_published_version_with_provenance_and_SKILL_md_and_downloads_it()
    {
        var entryId = scenario.EntryId ?? throw new InvalidOperationException("Journey 2 did not create the entry.");
        var pushedSha = scenario.PushedSha ?? throw new InvalidOperationException("Journey 3 did not publish.");
        var page = await app.SignInAsync(OidcProvider.Alice, $"/registry/{entryId}");
        var web = app.GitHub.BaseUrl.AbsoluteUri.TrimEnd('/');
        var repo = scenario.Skills.FullName;

        await Expect(page.GetByTestId("entry-name")).ToHaveTextAsync(GitHubScenario.EntryName);
        var release = VersionRow(page, "1.2.0");
        var prerelease = VersionRow(page, "0.0.0-github." + pushedSha[..7]);
        await Expect(release.GetByTestId("provenance")).ToHaveTextAsync("github");
        await Expect(release.GetByTestId("source-ref")).ToHaveTextAsync("v1.2.0");
        await Expect(release.GetByTestId("source-ref")).ToHaveAttributeAsync("href", $"{web}/{repo}/tree/v1.2.0");
        await Expect(prerelease.GetByTestId("provenance")).ToHaveTextAsync("github");
        await Expect(prerelease.GetByTestId("source-ref")).ToHaveTextAsync(pushedSha[..7]);
        await Expect(prerelease.GetByTestId("source-ref")).ToHaveAttributeAsync("href", $"{web}/{repo}/commit/{pushedSha}");

        // The release's page: SKILL.md rendered, provenance, and the archive with its hash.
        await release.GetByTestId("version").ClickAsync();
        await Expect(page.GetByTestId("selected-version")).ToHaveTextAsync("1.2.0");
        await Expect(page.GetByTestId("skill-markdown").Locator("h1")).ToHaveTextAsync("PDF summarizer");
        await Expect(page.GetByTestId("skill-markdown").Locator("strong")).ToHaveTextAsync("one-page brief");
        await Expect(page.GetByTestId("skill-markdown")).ToContainTextAsync("with key figures");
        await Expect(page.GetByTestId("provenance-panel").GetByTestId("provenance")).ToHaveTextAsync("github");
        await Expect(page.GetByTestId("provenance-panel")).ToContainTextAsync($"Published by a GitHub connection from {repo} at v1.2.0.");
        await Expect(page.GetByTestId("content-hash")).ToHaveTextAsync(new Regex("^[0-9a-f]{64}$"));
        await E2EApp.ScreenshotAsync(page, "j6-01-registry-version");

        var shownHash = (await page.GetByTestId("content-hash").InnerTextAsync()).Trim();
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("download-selected").ClickAsync());
        Assert.Equal($"{GitHubScenario.EntryName}-1.2.0.tar.gz", download.SuggestedFilename);
        await using var archive = await download.CreateReadStreamAsync();
        Assert.Equal(shownHash, Convert.ToHexStringLower(await SHA256.HashDataAsync(archive)));
        await page.Context.CloseAsync();
    }

    static ILocator RepoRow(IPage page, string fullName) =>
        page.GetByTestId("repos").Locator("tr").Filter(new() { Has = page.Locator("[data-testid=repo-name]", new() { HasTextRegex = Exact(fullName) }) });

    static ILocator VersionRow(IPage page, string version) =>
        page.GetByTestId("versions").Locator("tr").Filter(new() { Has = page.Locator("[data-testid=version]", new() { HasTextRegex = Exact(version) }) });

    /// <summary>The timeline's attempt that names <paramref name="version"/>.</summary>
    static ILocator Attempt(IPage page, string version) =>
        page.GetByTestId("attempt").Filter(new() { Has = page.Locator("[data-testid=attempt-version]", new() { HasTextRegex = Exact(version) }) });

    /// <summary>A MudBlazor input by the data-testid on it or on its wrapper.</summary>
    static ILocator Input(IPage page, string testId) => page.Locator($"input[data-testid={testId}], [data-testid={testId}] input");

    static Regex Exact(string text) => new("^\\s*" + Regex.Escape(text) + "\\s*$");
}
