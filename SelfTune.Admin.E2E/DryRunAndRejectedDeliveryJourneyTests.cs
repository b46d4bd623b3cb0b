using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using SelfTune.Admin.Tests.Fakes;
using static Microsoft.Playwright.Assertions;

namespace SelfTune.Admin.E2E;

/// <summary>
/// Journeys of issue 13 on their own app (so the setup journeys' "no installation yet" start and the count of rejected
/// deliveries stay theirs): try a ref in the dry run on the connection page and see its version, files and hash, and
/// every problem of a ref that would fail; a webhook with a bad signature shows as a banner on the Deliveries page.
/// </summary>
[CollectionDefinition(Name)]
public sealed class DryRunJourneys : ICollectionFixture<GitHubE2EApp>
{
    public const string Name = "Dry run and rejected delivery journeys";
}

[Collection(DryRunJourneys.Name)]
public sealed class DryRunAndRejectedDeliveryJourneyTests(GitHubE2EApp app)
{
    const string Account = "dryrun-gh", EntryName = "meeting-notes";

    static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);

    static Dictionary<string, byte[]> SkillFiles(string revision) => new()
    {
        ["SKILL.md"] = Text($"---\nname: {EntryName}\ndescription: Turns a meeting transcript into notes with decisions and owners.\n---\n# Meeting notes ({revision})\n"),
        ["templates/notes.md"] = Text($"## Decisions\n\n## Owners\n\n<!-- {revision} -->\n"),
    };

    [Fact]
    public async Task Trying_a_ref_shows_the_version_files_and_hash_a_publish_would_have_and_every_problem_of_a_bad_one()
    {
        var gh = app.GitHub;
        var installation = gh.AddInstallation(Account);
        var repo = gh.AddRepo(installation, Account, "skills");
        gh.PushCommit(repo, "main", SkillFiles("main"), "First notes skill");
        var tryMe = gh.PushCommit(repo, "try-me", SkillFiles("with owners"), "Add owners");
        var bad = SkillFiles("with keys");
        bad["keys/id_rsa"] = Text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n");
        bad["certs/server.pem"] = Text("-----BEGIN PRIVATE KEY-----\nnot really\n");
        gh.PushCommit(repo, "with-keys", bad, "Add keys by mistake");
        var connectionId = await ConnectAsync(installation, repo);

        var page = await app.SignInAsync(OidcProvider.Alice, $"/connections/{connectionId}");
        var panel = page.GetByTestId("try-ref");
        await Expect(panel).ToBeVisibleAsync();
        var reference = panel.Locator("[data-testid=try-ref-input] input, input[data-testid=try-ref-input]");
        await reference.FillAsync("try-me");
        await panel.GetByTestId("try-ref-preview").ClickAsync();

        var result = panel.GetByTestId("preview-result");
        await Expect(result).ToHaveAttributeAsync("data-outcome", "publishes");
        await Expect(result.GetByTestId("preview-message")).ToContainTextAsync("would publish 0.0.0-github." + tryMe[..7]);
        await Expect(result.GetByTestId("preview-version")).ToHaveTextAsync("0.0.0-github." + tryMe[..7]);
        await Expect(result.GetByTestId("preview-commit")).ToContainTextAsync(tryMe[..7]);
        await Expect(result.GetByTestId("preview-file")).ToHaveCountAsync(2);
        await Expect(result.GetByTestId("preview-files")).ToContainTextAsync("SKILL.md");
        await Expect(result.GetByTestId("preview-files")).ToContainTextAsync("templates/notes.md");
        // The hash on the page is the one the dry run answers through the API for the same ref.
        var hash = await PreviewHashAsync(connectionId, "try-me");
        await Expect(result.GetByTestId("preview-hash")).ToHaveTextAsync(hash);
        await E2EApp.ScreenshotAsync(page, "dry-run-01-publishes");

        // A ref with two keys in it: both are named, with what to do, and nothing would be published.
        await reference.FillAsync("with-keys");
        await panel.GetByTestId("try-ref-preview").ClickAsync();
        await Expect(result).ToHaveAttributeAsync("data-outcome", "fails");
        await Expect(result.GetByTestId("preview-message")).ToContainTextAsync("2 problems");
        await Expect(result.GetByTestId("preview-problem")).ToHaveCountAsync(2);
        await Expect(result.GetByTestId("preview-problem-file")).ToHaveTextAsync(new[] { "certs/server.pem", "keys/id_rsa" }, new() { UseInnerText = true });
        await Expect(result.GetByTestId("preview-problems")).ToContainTextAsync("looks like a secret");
        await E2EApp.ScreenshotAsync(page, "dry-run-02-problems");

        // Nothing was published or reported to GitHub by either try.
        Assert.DoesNotContain(gh.CheckRuns, r => r.RepoId == repo.Id && r.HeadSha == tryMe);
        Assert.Empty(gh.InternalErrors);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_webhook_with_a_bad_signature_shows_as_a_rejected_delivery_banner_on_the_deliveries_page()
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(app.BaseUrl), "api/v1/github/webhook"))
        {
            Content = new StringContent("{\"zen\":\"Keep it logically awesome.\"}", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-GitHub-Event", "ping");
        request.Headers.Add("X-GitHub-Delivery", Guid.NewGuid().ToString());
        request.Headers.Add("X-Hub-Signature-256", "sha256=" + new string('0', 64)); // signed with some other secret
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);

        var page = await app.SignInAsync(OidcProvider.Alice, "/deliveries");
        var banner = page.GetByTestId("rejected-banner");
        await Expect(banner).ToBeVisibleAsync();
        await Expect(banner).ToContainTextAsync("1 delivery was rejected in the last 24 h");
        await Expect(banner).ToContainTextAsync("signature mismatch (1)");
        await Expect(banner).ToContainTextAsync("check GitHub:WebhookSecret");
        await E2EApp.ScreenshotAsync(page, "rejected-01-banner");
        await page.Context.CloseAsync();
    }

    /// <summary>
    /// Binds <paramref name="installation"/> to Alice's org the way a person does (GitHub's install page sends her
    /// signed-in browser to the App's callback, which proves and binds), then connects the repository through the API.
    /// </summary>
    async Task<Guid> ConnectAsync(FakeInstallation installation, FakeRepo repo)
    {
        var gh = app.GitHub;
        gh.AddUser("alice-gh", Account);
        gh.BrowserUser = "alice-gh";
        gh.NextInstallForBrowser = installation;
        using var api = app.ApiClient(await app.CreateApiKeyAsync(app.AcmeOrgId, OidcProvider.Alice));
        var link = await Ok(await api.GetAsync("/api/v1/github/install-url"));
        using (var browserless = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }))
        using (var redirect = await browserless.GetAsync(link["url"]!.GetValue<string>()))
        {
            Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
            var alice = await app.SignInAsync(OidcProvider.Alice, "/");
            await alice.GotoAsync(redirect.Headers.Location!.AbsoluteUri);
            await Expect(alice.GetByTestId("bind-success")).ToBeVisibleAsync();
            await alice.Context.CloseAsync();
        }
        var entry = await Ok(await api.PostAsJsonAsync("/api/v1/registry",
            new { name = EntryName, description = "Turns a meeting transcript into notes." }), HttpStatusCode.Created);
        var connection = await Ok(await api.PostAsJsonAsync("/api/v1/github/connections", new
        {
            entry_id = entry["id"]!.GetValue<string>(), installation_id = installation.Id, repo_full_name = repo.FullName,
        }), HttpStatusCode.Created);
        return Guid.Parse(connection["id"]!.GetValue<string>());
    }

    async Task<string> PreviewHashAsync(Guid connectionId, string reference)
    {
        using var api = app.ApiClient(await app.CreateApiKeyAsync(app.AcmeOrgId, OidcProvider.Alice));
        var preview = await Ok(await api.PostAsJsonAsync($"/api/v1/github/connections/{connectionId}/preview", new { @ref = reference }));
        var hash = preview["content_hash"]!.GetValue<string>();
        Assert.Matches(new Regex("^[0-9a-f]{64}$"), hash);
        return hash;
    }

    static async Task<JsonObject> Ok(HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.RequestUri}: expected {(int)expected}, got {(int)response.StatusCode}: {body}");
            return JsonNode.Parse(body)!.AsObject();
        }
    }
}
