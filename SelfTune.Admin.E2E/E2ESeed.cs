using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.E2E;

/// <summary>The entry the seed publishes, and the key it used.</summary>
public sealed record SeededRegistry(Guid EntryId, string EntryName, string ApiKey);

/// <summary>
/// Representative data for the browser tests, made the way the product makes it: an API key through ApiKeyService, entries
/// and a cli version through the HTTP API with that key, a GitHub-published and a directly imported version through
/// RegistryService (what a connection's publish job and the import endpoint call), and a few more members of org acme.
/// </summary>
public static class E2ESeed
{
    public const string EntryName = "pdf-summarizer";

    public static async Task<SeededRegistry> RegistryAsync(E2EApp app)
    {
        var (orgId, ownerId) = await AcmeAsync(app);
        var owner = Principal(orgId, ownerId);

        string secret;
        await using (var scope = app.Services.CreateAsyncScope())
            secret = (await scope.ServiceProvider.GetRequiredService<ApiKeyService>()
                .CreateAsync(owner, "CI publish", SelfTuneClaims.AllPermissions, null)).Secret;

        using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);

        var found = await GetJsonAsync(http, $"/api/v1/registry?name={EntryName}");
        if (found.GetProperty("entries").GetArrayLength() > 0)
            return new SeededRegistry(found.GetProperty("entries")[0].GetProperty("id").GetGuid(), EntryName, secret);

        // cli: created and first version pushed in one call, then a second push.
        var created = await PostAsync(http, "/api/v1/registry", new
        {
            name = EntryName, description = "Summarises long PDF reports into a one-page brief with key figures and open questions.",
            visibility = "public", source_repo = "acme/skills", version = "1.0.0", change_summary = "First release",
        }, Archive(SkillMd("1.0.0"), "v1"));
        var entryId = created.GetProperty("id").GetGuid();
        await PostAsync(http, $"/api/v1/registry/{entryId}/versions",
            new { version = "1.1.0", change_summary = "Adds a table of key figures and handles scanned pages." },
            Archive(SkillMd("1.1.0"), "v1.1"));

        // github (a connection published tag v1.2.0) and github-direct (an import of a commit), through RegistryService.
        await PublishAsync(app, entryId, ownerId, "1.2.0", "Summaries in the reader's language; shorter briefs for short reports.",
            new VersionProvenance(VersionSource.Github, "v1.2.0", "acme/skills"), Archive(SkillMd("1.2.0"), "v1.2"));
        await PublishAsync(app, entryId, ownerId, "1.3.0-beta.1", "Experimental: chart extraction.",
            new VersionProvenance(VersionSource.GithubDirect, "3f9c2a1b7d4e5f60718293a4b5c6d7e8f9a0b1c2", "acme/skills"),
            Archive(SkillMd("1.3.0-beta.1"), "v1.3b"));

        // More entries for the list: org-only with a version, unlisted without one.
        await PostAsync(http, "/api/v1/registry", new
        {
            name = "code-review", description = "Reviews a pull request diff against the team's style guide and flags risky changes.",
            visibility = "org", source_repo = "acme/review-skill", version = "2.4.1", change_summary = "Checks migrations too",
        }, Archive(Md("code-review", "Reviews a pull request diff against the team's style guide."), "r"));
        await PostJsonAsync(http, "/api/v1/registry", new
        {
            name = "release-notes", description = "Drafts release notes from merged pull requests.", visibility = "unlisted",
        });

        await MembersAsync(app, orgId);
        return new SeededRegistry(entryId, EntryName, secret);
    }

    static async Task PublishAsync(E2EApp app, Guid entryId, Guid actorId, string version, string summary, VersionProvenance provenance, byte[] archive)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<AdminDbContext>();
        var entry = await db.Entries.SingleAsync(e => e.Id == entryId);
        await using var staged = await services.GetRequiredService<ArchiveStore>().StageAsync(new MemoryStream(archive), default);
        SkillPackage package;
        await using (var read = staged.OpenRead()) package = await SkillArchive.ValidateAsync(read, PackagingLimits.Default);
        await services.GetRequiredService<RegistryService>().PublishAsync(entry, version, summary, staged, package, provenance, actorId, default);
    }

    static async Task MembersAsync(E2EApp app, Guid orgId)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var now = DateTimeOffset.UtcNow;
        (string Name, string Email, MemberRole Role, int JoinedDaysAgo, double? SeenHoursAgo)[] people =
        [
            ("Ada Lovelace", "ada@acme.example", MemberRole.Admin, 120, 3),
            ("Grace Hopper", "grace@acme.example", MemberRole.Member, 64, 30),
            ("Linus Torvalds", "linus@acme.example", MemberRole.Viewer, 9, null),
        ];
        foreach (var p in people)
        {
            if (await db.Members.AnyAsync(m => m.OrgId == orgId && m.Email == p.Email)) continue;
            db.Members.Add(new Member
            {
                OrgId = orgId, Subject = $"e2e|{p.Email}", Name = p.Name, Email = p.Email, Role = p.Role,
                CreatedAt = now.AddDays(-p.JoinedDaysAgo), LastSignInAt = p.SeenHoursAgo is { } h ? now.AddHours(-h) : null,
            });
        }
        await db.SaveChangesAsync();
    }

    static async Task<(Guid OrgId, Guid OwnerId)> AcmeAsync(E2EApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AdminDbContext>();
        var org = await db.Orgs.SingleAsync(o => o.Slug == "acme");
        var owner = await db.Members.SingleAsync(m => m.Subject == $"{DevelopmentSeed.Issuer}|{DevelopmentSeed.Subject}");
        return (org.Id, owner.Id);
    }

    static ClaimsPrincipal Principal(Guid orgId, Guid memberId) => new(new ClaimsIdentity(
    [
        new Claim(SelfTuneClaims.OrgId, orgId.ToString()),
        new Claim(SelfTuneClaims.ActorId, memberId.ToString()),
        new Claim(SelfTuneClaims.Role, nameof(MemberRole.Owner)),
    ], "e2e"));

    static string SkillMd(string version) => $"""
        ---
        name: {EntryName}
        description: Summarises long PDF reports into a one-page brief with key figures and open questions.
        ---
        # PDF summarizer

        Turns a long PDF report into a **one-page brief** for busy readers (version {version}).

        ## When to use it

        - A report, paper or filing longer than ten pages
        - The reader needs the decisions, the numbers and what is still open

        ## Steps

        1. Extract the text with `scripts/extract.py report.pdf`.
        2. Read [the brief format](references/FORMAT.md) and fill in `templates/brief.md`.
        3. Check every figure against the source page.

        ```bash
        python scripts/extract.py report.pdf > report.txt
        ```

        > Never invent numbers: quote the page a figure comes from.

        | Section | Length |
        | --- | --- |
        | Summary | 5 sentences |
        | Key figures | up to 8 rows |
        """;

    static string Md(string name, string description) => $"---\nname: {name}\ndescription: {description}\n---\n# {name}\n\n{description}\n";

    /// <summary>A tar.gz of a skill folder: SKILL.md plus a few supporting files.</summary>
    static byte[] Archive(string skillMd, string marker)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            void Add(string path, string content) =>
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });
            Add("SKILL.md", skillMd);
            Add("scripts/extract.py", $"# {marker}\nimport sys\nfrom pypdf import PdfReader\n\nfor page in PdfReader(sys.argv[1]).pages:\n    print(page.extract_text())\n");
            Add("references/FORMAT.md", "# Brief format\n\nSummary, key figures, decisions, open questions.\n");
            Add("templates/brief.md", "## Summary\n\n## Key figures\n\n## Decisions\n\n## Open questions\n");
        }
        return output.ToArray();
    }

    static async Task<JsonElement> GetJsonAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        return await ReadAsync(response, HttpStatusCode.OK);
    }

    static async Task<JsonElement> PostAsync(HttpClient http, string path, object metadata, byte[] archive)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(JsonSerializer.Serialize(metadata), Encoding.UTF8), "metadata");
        var file = new ByteArrayContent(archive);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        form.Add(file, "archive", "skill.tar.gz");
        using var response = await http.PostAsync(path, form);
        return await ReadAsync(response, HttpStatusCode.Created);
    }

    static async Task<JsonElement> PostJsonAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        return await ReadAsync(response, HttpStatusCode.Created);
    }

    static async Task<JsonElement> ReadAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{response.RequestMessage?.RequestUri}: expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }
}
