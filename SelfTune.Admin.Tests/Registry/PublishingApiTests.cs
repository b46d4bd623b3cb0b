using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// SPEC section 10: entries, CLI pushes (multipart metadata + archive), immutability, downloads. The same tests run with
/// the archives on the file system and in Azure Blob Storage (issue 11), see the classes at the end.
/// </summary>
public abstract class PublishingApiTests(AdminAppFactory factory)
{
    HttpClient Acme => factory.CreateClient(factory.DevelopmentKey);

    static readonly string[] EntryFields =
        ["id", "org_id", "name", "description", "visibility", "source_repo", "latest_version", "created_at", "updated_at"];

    static readonly string[] VersionFields =
        ["id", "entry_id", "version", "change_summary", "source", "source_ref", "source_repo", "content_hash", "size", "file_count", "published_at", "created_by"];

    static void AssertHasFields(JsonElement obj, IEnumerable<string> fields)
    {
        foreach (var field in fields)
            Assert.True(obj.TryGetProperty(field, out _), $"missing '{field}' in {obj}");
    }

    [Fact]
    public async Task Create_entry_with_json_is_201_with_snake_case_fields()
    {
        var name = UniqueName("pdf");
        var response = await Acme.PostAsJsonAsync("/api/v1/registry",
            new { name, description = "Extract text from PDFs.", visibility = "public", source_repo = "acme/skills" });

        var entry = await ExpectJsonAsync(response, HttpStatusCode.Created);
        AssertHasFields(entry, EntryFields);
        var id = entry.GetProperty("id").GetString()!;
        Assert.True(Guid.TryParse(id, out _));
        Assert.Equal($"/api/v1/registry/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal(name, entry.GetProperty("name").GetString());
        Assert.Equal("Extract text from PDFs.", entry.GetProperty("description").GetString());
        Assert.Equal("public", entry.GetProperty("visibility").GetString());
        Assert.Equal("acme/skills", entry.GetProperty("source_repo").GetString());
        Assert.Equal(JsonValueKind.Null, entry.GetProperty("latest_version").ValueKind);
        Assert.Equal((await factory.AcmeOrgIdAsync()).ToString(), entry.GetProperty("org_id").GetString());
        AssertUtcTimestamp(entry.GetProperty("created_at"));
        AssertUtcTimestamp(entry.GetProperty("updated_at"));

        var read = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.Equal(name, read.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Visibility_defaults_to_org()
    {
        var entry = await ExpectJsonAsync(await Acme.PostAsJsonAsync("/api/v1/registry", new { name = UniqueName() }), HttpStatusCode.Created);

        Assert.Equal("org", entry.GetProperty("visibility").GetString());
        Assert.Equal("", entry.GetProperty("description").GetString());
    }

    [Fact]
    public async Task Push_version_is_201_with_cli_provenance_hash_and_manifest()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        var archive = SkillArchive("push");

        var response = await Acme.PostAsync($"/api/v1/registry/{id}/versions",
            Multipart(new { version = "1.0.0", change_summary = "First release" }, archive));

        var version = await ExpectJsonAsync(response, HttpStatusCode.Created);
        AssertHasFields(version, VersionFields);
        Assert.Equal($"/api/v1/registry/{id}/versions/1.0.0", response.Headers.Location?.OriginalString);
        Assert.Equal(id, version.GetProperty("entry_id").GetString());
        Assert.Equal("1.0.0", version.GetProperty("version").GetString());
        Assert.Equal("First release", version.GetProperty("change_summary").GetString());
        Assert.Equal("cli", version.GetProperty("source").GetString());
        Assert.Equal(JsonValueKind.Null, version.GetProperty("source_ref").ValueKind);
        Assert.Equal(JsonValueKind.Null, version.GetProperty("source_repo").ValueKind);
        Assert.Equal(Sha256Hex(archive), version.GetProperty("content_hash").GetString());
        Assert.Equal(archive.Length, version.GetProperty("size").GetInt64());
        Assert.Equal(2, version.GetProperty("file_count").GetInt32());
        AssertUtcTimestamp(version.GetProperty("published_at"));

        var manifest = version.GetProperty("file_manifest").EnumerateArray().ToList();
        Assert.Equal(["SKILL.md", "scripts/run.sh"], manifest.Select(f => f.GetProperty("path").GetString()!).ToArray());
        var skillMd = System.Text.Encoding.UTF8.GetBytes(SkillMd);
        Assert.Equal(skillMd.Length, manifest[0].GetProperty("size").GetInt64());
        Assert.Equal(Sha256Hex(skillMd), manifest[0].GetProperty("sha256").GetString());

        // The entry now points at it; reads show the same version.
        var read = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.Equal("1.0.0", read.GetProperty("latest_version").GetString());
        var got = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions/1.0.0"), HttpStatusCode.OK);
        Assert.Equal(version.GetProperty("id").GetString(), got.GetProperty("id").GetString());
        Assert.Equal(2, got.GetProperty("file_manifest").GetArrayLength());
        var list = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK);
        var listed = Assert.Single(list.GetProperty("versions").EnumerateArray());
        AssertHasFields(listed, VersionFields);
        Assert.Equal(Sha256Hex(archive), listed.GetProperty("content_hash").GetString());
    }

    [Fact]
    public async Task Downloaded_archive_is_byte_identical()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        var archive = SkillArchive("download");
        await PushAsync(Acme, id, "1.0.0", archive);

        var response = await Acme.GetAsync($"/api/v1/registry/{id}/versions/1.0.0/archive");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/gzip", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(archive, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{Sha256Hex(archive)}\"", response.Headers.ETag?.Tag);
        Assert.EndsWith("-1.0.0.tar.gz", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
    }

    [Fact]
    public async Task A_large_archive_downloads_whole_with_its_length_and_its_etag_answers_304()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        // Random bytes do not compress: about 3 MB, several of the Azure store's 1 MiB download ranges.
        var archive = new Packaging.TarBuilder().File("SKILL.md", SkillMd)
            .File("data/a.bin", RandomNumberGenerator.GetBytes(1_500_000)).File("data/b.bin", RandomNumberGenerator.GetBytes(1_500_000)).ToTarGz();
        await PushAsync(Acme, id, "1.0.0", archive);
        var url = $"/api/v1/registry/{id}/versions/1.0.0/archive";

        var response = await Acme.GetAsync(url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(archive.Length, response.Content.Headers.ContentLength);
        Assert.Equal(archive, await response.Content.ReadAsByteArrayAsync());
        var cached = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { IfNoneMatch = { response.Headers.ETag! } } };
        Assert.Equal(HttpStatusCode.NotModified, (await Acme.SendAsync(cached)).StatusCode);
    }

    [Fact]
    public async Task Same_version_with_the_same_archive_is_200_unchanged()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        var archive = SkillArchive("same");
        var first = await PushAsync(Acme, id, "1.0.0", archive);

        var again = await PushAsync(Acme, id, "1.0.0", archive, HttpStatusCode.OK);

        Assert.Equal(first.GetProperty("id").GetString(), again.GetProperty("id").GetString());
        Assert.Equal(first.GetProperty("content_hash").GetString(), again.GetProperty("content_hash").GetString());
        Assert.Equal(first.GetProperty("published_at").GetString(), again.GetProperty("published_at").GetString());
        var list = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK);
        Assert.Equal(1, list.GetProperty("versions").GetArrayLength());
    }

    [Fact]
    public async Task Same_version_with_a_different_archive_is_409_and_the_stored_version_is_unchanged()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        var original = SkillArchive("original");
        var first = await PushAsync(Acme, id, "1.0.0", original);

        var response = await Acme.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = "1.0.0" }, SkillArchive("changed")));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.Conflict, "conflict");
        Assert.Contains("1.0.0", problem.GetProperty("detail").GetString());
        var stored = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions/1.0.0"), HttpStatusCode.OK);
        Assert.Equal(first.GetProperty("id").GetString(), stored.GetProperty("id").GetString());
        Assert.Equal(Sha256Hex(original), stored.GetProperty("content_hash").GetString());
        Assert.Equal(original, await Acme.GetByteArrayAsync($"/api/v1/registry/{id}/versions/1.0.0/archive"));
    }

    [Theory]
    [InlineData("same content", true)]
    [InlineData("other content", false)]
    public async Task A_publish_that_read_its_version_as_absent_meets_the_one_stored_since_as_any_publish_does(string _, bool sameBytes)
    {
        // A GitHub publish reads its version as absent when it chooses it, and the registry does not read it again
        // (RegistryService.PublishAsync, readAsAbsent): a version stored in between is met by the unique index, and decided
        // as a publish that found it would have been: the same archive is not created again, another is a conflict. And
        // what the caller tracks in the same context stays tracked (a GitHub publish saves its attempt's outcome there next).
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        var original = SkillArchive("stored-first");
        var first = await PushAsync(Acme, id, "1.0.0", original);
        var otherId = (await CreateEntryAsync(Acme, UniqueName())).GetProperty("id").GetString()!;

        await using var scope = factory.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<AdminDbContext>();
        var tracked = await db.Entries.SingleAsync(e => e.Id == Guid.Parse(id));
        var callers = await db.Entries.SingleAsync(e => e.Id == Guid.Parse(otherId));
        var bytes = sameBytes ? original : SkillArchive("stored-second");
        await using var staged = await services.GetRequiredService<ArchiveStore>().StageAsync(new MemoryStream(bytes), default);
        SkillPackage package;
        await using (var staging = staged.OpenRead()) package = await SelfTune.Admin.Registry.Packaging.SkillArchive.ValidateAsync(staging, PackagingLimits.Default);
        var publish = () => services.GetRequiredService<RegistryService>().PublishAsync(tracked, "1.0.0", null, staged, package,
            new VersionProvenance(VersionSource.Cli, null, null), Guid.NewGuid(), default, readAsAbsent: true);

        if (sameBytes) Assert.False((await publish()).Created);
        else Assert.Equal(409, (await Assert.ThrowsAsync<ProblemException>(publish)).Status);
        callers.Description = "Saved by the caller after the publish.";
        await db.SaveChangesAsync();

        var other = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{otherId}"), HttpStatusCode.OK);
        Assert.Equal("Saved by the caller after the publish.", other.GetProperty("description").GetString());
        var stored = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions/1.0.0"), HttpStatusCode.OK);
        Assert.Equal(first.GetProperty("id").GetString(), stored.GetProperty("id").GetString());
        Assert.Equal(original, await Acme.GetByteArrayAsync($"/api/v1/registry/{id}/versions/1.0.0/archive"));
        var versions = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK);
        Assert.Equal(1, versions.GetProperty("versions").GetArrayLength());
        var latest = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.Equal("1.0.0", latest.GetProperty("latest_version").GetString());
    }

    [Fact]
    public async Task Same_version_with_the_same_files_in_other_archive_bytes_is_409_for_a_CLI_push()
    {
        // A CLI push stores the client's own bytes, and its content_hash is theirs: other bytes are other content, even of
        // the same files (unlike an archive the server builds from a repository, RegistryService.HoldsSameContent).
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        var original = SkillArchive("regzip");
        await PushAsync(Acme, id, "1.0.0", original);
        using var tar = new MemoryStream();
        using (var gunzip = new System.IO.Compression.GZipStream(new MemoryStream(original), System.IO.Compression.CompressionMode.Decompress)) gunzip.CopyTo(tar);
        using var regzipped = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(regzipped, System.IO.Compression.CompressionLevel.NoCompression, leaveOpen: true)) gzip.Write(tar.ToArray());
        Assert.NotEqual(original, regzipped.ToArray());

        var response = await Acme.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = "1.0.0" }, regzipped.ToArray()));

        await ExpectProblemAsync(response, HttpStatusCode.Conflict, "conflict");
        Assert.Equal(original, await Acme.GetByteArrayAsync($"/api/v1/registry/{id}/versions/1.0.0/archive"));
    }

    [Fact]
    public async Task Create_entry_with_multipart_publishes_the_first_version()
    {
        var name = UniqueName("multi");
        var archive = SkillArchive("multi");

        var response = await Acme.PostAsync("/api/v1/registry", Multipart(
            new { name, description = "Made by the CLI.", visibility = "unlisted", version = "0.1.0", change_summary = "Initial" }, archive));

        var entry = await ExpectJsonAsync(response, HttpStatusCode.Created);
        AssertHasFields(entry, EntryFields);
        Assert.Equal(name, entry.GetProperty("name").GetString());
        Assert.Equal("Made by the CLI.", entry.GetProperty("description").GetString());
        Assert.Equal("unlisted", entry.GetProperty("visibility").GetString());
        Assert.Equal("0.1.0", entry.GetProperty("latest_version").GetString());
        var version = entry.GetProperty("version");
        AssertHasFields(version, VersionFields);
        Assert.Equal("0.1.0", version.GetProperty("version").GetString());
        Assert.Equal("cli", version.GetProperty("source").GetString());
        Assert.Equal(Sha256Hex(archive), version.GetProperty("content_hash").GetString());

        var id = entry.GetProperty("id").GetString()!;
        Assert.Equal(archive, await Acme.GetByteArrayAsync($"/api/v1/registry/{id}/versions/0.1.0/archive"));
    }

    [Fact]
    public async Task Create_entry_with_multipart_and_a_bad_archive_creates_nothing()
    {
        var name = UniqueName("broken");
        var bad = new Packaging.TarBuilder().File("README.md", "no skill here").ToTarGz();

        var response = await Acme.PostAsync("/api/v1/registry", Multipart(new { name, version = "1.0.0" }, bad));

        await ExpectProblemAsync(response, HttpStatusCode.UnprocessableEntity, "invalid_skill");
        var list = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry?name={name}"), HttpStatusCode.OK);
        Assert.Equal(0, list.GetProperty("entries").GetArrayLength());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Matching_content_hash_in_metadata_is_accepted(bool withPrefix)
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var archive = SkillArchive("hash");
        var hash = (withPrefix ? "sha256:" : "") + Sha256Hex(archive);

        var response = await Acme.PostAsync($"/api/v1/registry/{entry.GetProperty("id").GetString()}/versions",
            Multipart(new { version = "1.0.0", content_hash = hash }, archive));

        await ExpectJsonAsync(response, HttpStatusCode.Created);
    }

    [Fact]
    public async Task Mismatched_content_hash_is_400_naming_content_hash()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        var archive = SkillArchive("hash");

        var response = await Acme.PostAsync($"/api/v1/registry/{id}/versions",
            Multipart(new { version = "1.0.0", content_hash = new string('0', 64) }, archive));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("content_hash", problem.GetProperty("detail").GetString());
        Assert.Contains("content_hash", ErrorFields(problem));
        Assert.Contains(Sha256Hex(archive), problem.GetProperty("detail").GetString());
        var list = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK);
        Assert.Equal(0, list.GetProperty("versions").GetArrayLength());
    }

    [Theory]
    [InlineData("1.2")]
    [InlineData("v1.0.0")]
    [InlineData("01.0.0")]
    [InlineData("1.0.0.0")]
    public async Task Non_semver_version_is_400_naming_version(string bad)
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());

        var response = await Acme.PostAsync($"/api/v1/registry/{entry.GetProperty("id").GetString()}/versions",
            Multipart(new { version = bad }, SkillArchive()));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal(["version"], ErrorFields(problem));
        Assert.Contains(bad, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Missing_version_is_400_naming_version()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());

        var response = await Acme.PostAsync($"/api/v1/registry/{entry.GetProperty("id").GetString()}/versions",
            Multipart(new { change_summary = "no version" }, SkillArchive()));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal(["version"], ErrorFields(problem));
    }

    [Fact]
    public async Task Prerelease_versions_are_accepted_and_a_release_stays_latest()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;

        await PushAsync(Acme, id, "1.0.0", SkillArchive("a"));
        await PushAsync(Acme, id, "2.0.0-beta.1", SkillArchive("b"));

        var latest = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.Equal("1.0.0", latest.GetProperty("latest_version").GetString());
    }

    [Fact]
    public async Task A_commit_prerelease_whose_sha7_has_a_leading_zero_is_accepted_listed_and_ordered()
    {
        // 0123456 is not strict SemVer (a numeric identifier with a leading zero), but it is the seed's 0.0.0-github.<sha7>.
        var id = (await CreateEntryAsync(Acme, UniqueName())).GetProperty("id").GetString()!;

        var pushed = await PushAsync(Acme, id, "0.0.0-github.0123456", SkillArchive("a"));
        Assert.Equal("0.0.0-github.0123456", pushed.GetProperty("version").GetString());
        var read = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions/0.0.0-github.0123456"), HttpStatusCode.OK);
        Assert.Equal("0.0.0-github.0123456", read.GetProperty("version").GetString());
        Assert.Equal("0.0.0-github.0123456", await LatestAsync(id)); // no release yet: the newest prerelease

        await PushAsync(Acme, id, "0.0.0-github.0123456.1", SkillArchive("b"));
        await PushAsync(Acme, id, "1.0.0", SkillArchive("c"));
        await PushAsync(Acme, id, "0.0.0-github.0abcdef", SkillArchive("d"));
        Assert.Equal("1.0.0", await LatestAsync(id)); // a release outranks every commit prerelease, and publishing goes on

        var list = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK);
        Assert.Equal(["0.0.0-github.0abcdef", "1.0.0", "0.0.0-github.0123456.1", "0.0.0-github.0123456"],
            list.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetString()!).ToArray());
    }

    async Task<string?> LatestAsync(string id) =>
        (await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK)).GetProperty("latest_version").GetString();

    [Fact]
    public async Task Duplicate_entry_name_is_409()
    {
        var name = UniqueName();
        await CreateEntryAsync(Acme, name);

        var problem = await ExpectProblemAsync(await Acme.PostAsJsonAsync("/api/v1/registry", new { name }), HttpStatusCode.Conflict, "conflict");
        Assert.Contains(name, problem.GetProperty("detail").GetString());

        // Unique per org: another org may use the same name.
        var (_, otherKey) = await factory.CreateOrgAsync(Data.Plan.Free);
        await CreateEntryAsync(factory.CreateClient(otherKey), name);
    }

    [Theory]
    [InlineData("Bad Name")]
    [InlineData("-leading-dash")]
    [InlineData("UPPER")]
    [InlineData("")]
    public async Task Bad_entry_name_is_400_with_errors_name(string name)
    {
        var problem = await ExpectProblemAsync(await Acme.PostAsJsonAsync("/api/v1/registry", new { name }), HttpStatusCode.BadRequest, "invalid_request");

        Assert.Equal(["name"], ErrorFields(problem));
        Assert.NotEmpty(problem.GetProperty("errors").GetProperty("name").EnumerateArray());
    }

    [Fact]
    public async Task Entry_name_of_129_characters_is_400_and_128_is_accepted()
    {
        var unique = UniqueName();
        var longest = await CreateEntryAsync(Acme, unique + new string('x', 128 - unique.Length));
        Assert.Equal(128, longest.GetProperty("name").GetString()!.Length);

        var problem = await ExpectProblemAsync(await Acme.PostAsJsonAsync("/api/v1/registry", new { name = new string('b', 129) }),
            HttpStatusCode.BadRequest, "invalid_request");
        Assert.Equal(["name"], ErrorFields(problem));
    }

    [Theory]
    [InlineData("visibility", "secret")]
    [InlineData("source_repo", "not-a-repo")]
    [InlineData("source_repo", "owner/..")]
    public async Task Bad_entry_fields_are_400_naming_the_field(string field, string value)
    {
        var body = new Dictionary<string, string> { ["name"] = UniqueName(), [field] = value };

        var problem = await ExpectProblemAsync(await Acme.PostAsJsonAsync("/api/v1/registry", body), HttpStatusCode.BadRequest, "invalid_request");

        Assert.Equal([field], ErrorFields(problem));
    }

    [Fact]
    public async Task Versions_are_listed_newest_first()
    {
        var entry = await CreateEntryAsync(Acme, UniqueName());
        var id = entry.GetProperty("id").GetString()!;
        await PushAsync(Acme, id, "1.0.0", SkillArchive("1"));
        await PushAsync(Acme, id, "1.1.0", SkillArchive("2"));

        var list = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK);

        Assert.Equal(["1.1.0", "1.0.0"], list.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetString()!).ToArray());
        var latest = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.Equal("1.1.0", latest.GetProperty("latest_version").GetString());
    }
}

public sealed class PublishingApiOnFileSystemTests(AdminAppFactory factory) : PublishingApiTests(factory), IClassFixture<AdminAppFactory>;

public sealed class PublishingApiOnAzuriteTests(AzuriteAppFactory factory) : PublishingApiTests(factory), IClassFixture<AzuriteAppFactory>;
