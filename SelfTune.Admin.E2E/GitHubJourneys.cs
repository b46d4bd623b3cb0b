using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SelfTune.Admin.Tests.Fakes;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;
using Xunit.Sdk;

namespace SelfTune.Admin.E2E;

/// <summary>The browser journeys through the GitHub integration share one app, one fake GitHub and one provider.</summary>
[CollectionDefinition(Name)]
public sealed class GitHubJourneys : ICollectionFixture<GitHubE2EApp>
{
    public const string Name = "GitHub journeys";
}

/// <summary>Runs a class's tests in the order of their method names (J2_..., J3_...): later journeys build on earlier ones.</summary>
public sealed class ByMethodName : ITestCaseOrderer
{
    public const string TypeName = "SelfTune.Admin.E2E.ByMethodName", Assembly = "SelfTune.Admin.E2E";

    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.Name, StringComparer.Ordinal);
}

/// <summary>
/// What the GitHub journeys set up on the fake GitHub and what they leave for the next journey: the installation on the
/// GitHub organization acme-gh, its repositories, and the connection, entry and versions journey 2 and 3 create.
/// </summary>
public sealed class GitHubScenario
{
    public const string Account = "acme-gh";
    public const string EntryName = "pdf-summarizer";

    public FakeInstallation Installation { get; private set; } = null!;
    /// <summary>acme-gh/skills: main with a SKILL.md at the root, tags v1.0.0 (first commit) and v1.1 (main).</summary>
    public FakeRepo Skills { get; private set; } = null!;
    /// <summary>acme-gh/shared-skill: connected by org "other" (Bob's) before Alice starts.</summary>
    public FakeRepo Shared { get; private set; } = null!;
    public string FirstSha { get; private set; } = "";
    /// <summary>main's head when journey 2 connects (the commit tagged v1.1): the first sync publishes it.</summary>
    public string HeadSha { get; private set; } = "";

    // Left by journey 2 and 3.
    public Guid? ConnectionId { get; set; }
    public Guid? EntryId { get; set; }
    public string? PushedSha { get; set; }

    bool arranged;

    public static byte[] SkillMd(string version) => Encoding.UTF8.GetBytes($"""
        ---
        name: {EntryName}
        description: Summarises long PDF reports into a one-page brief with key figures and open questions.
        ---
        # PDF summarizer

        Turns a long PDF report into a **one-page brief** for busy readers ({version}).

        ## Steps

        1. Extract the text with `scripts/extract.py report.pdf`.
        2. Check every figure against the source page.
        """);

    public static Dictionary<string, byte[]> SkillFiles(string version) => new()
    {
        ["SKILL.md"] = SkillMd(version),
        ["scripts/extract.py"] = Encoding.UTF8.GetBytes($"# {version}\nimport sys\nprint(open(sys.argv[1], 'rb').read()[:100])\n"),
        ["README.md"] = Encoding.UTF8.GetBytes("# Skills of Acme\n"),
    };

    /// <summary>The fake GitHub's side, and org "other" connected to acme-gh/shared-skill through the app's API. Once.</summary>
    public async Task ArrangeAsync(GitHubE2EApp app)
    {
        if (arranged) return;
        arranged = true;
        var gh = app.GitHub;
        Installation = gh.AddInstallation(Account);
        Skills = gh.AddRepo(Installation, Account, "skills");
        Shared = gh.AddRepo(Installation, Account, "shared-skill");
        FirstSha = gh.PushCommit(Skills, "main", SkillFiles("first release"), "First release");
        gh.PushTag(Skills, "v1.0.0", FirstSha);
        var second = gh.PushCommit(Skills, "main", SkillFiles("second draft"), "Second draft");
        gh.PushTag(Skills, "v1.1", second);
        HeadSha = second;
        gh.PushCommit(Shared, "main", new Dictionary<string, byte[]>
        {
            ["SKILL.md"] = Encoding.UTF8.GetBytes("---\nname: shared\ndescription: Shared between orgs.\n---\n# Shared\n"),
        });
        gh.NextInstallForBrowser = Installation;

        // Bob's org binds the same installation (GitHub allows several SelfTune orgs to bind one, when each proves its
        // person can access it) and connects shared-skill: his script asks for the install link, Bob (an admin of acme-gh
        // on GitHub) installs, GitHub sends his signed-in browser to the callback, which proves and binds.
        using var api = app.ApiClient(await app.CreateApiKeyAsync(app.OtherOrgId, OidcProvider.Bob));
        var link = await Ok(await api.GetAsync("/api/v1/github/install-url"));
        gh.BrowserUser = "bob-gh";
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var redirect = await browser.GetAsync(link["url"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        var bob = await app.SignInAsync(OidcProvider.Bob, "/");
        await bob.GotoAsync(redirect.Headers.Location!.AbsoluteUri);
        await Expect(bob.GetByTestId("bind-success")).ToBeVisibleAsync();
        await bob.Context.CloseAsync();
        await Ok(await api.PostAsJsonAsync("/api/v1/github/installations", new
        {
            installation_id = Installation.Id, account_login = Account, account_type = "Organization", state = link["state"]!.GetValue<string>(),
        }));
        gh.BrowserUser = "alice-gh"; // Alice installs in J2

        var entry = await Ok(await api.PostAsJsonAsync("/api/v1/registry", new { name = "shared", description = "Shared between orgs." }), HttpStatusCode.Created);
        await Ok(await api.PostAsJsonAsync("/api/v1/github/connections", new
        {
            entry_id = entry["id"]!.GetValue<string>(), installation_id = Installation.Id, repo_full_name = Shared.FullName,
        }), HttpStatusCode.Created);
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
