using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// SPEC section 2 ("never a stack trace"): nothing a client sends is answered 5xx. Each case is a 4xx problem+json with
/// a code, and where the input has a field, the answer names it.
/// </summary>
public class HostileInputTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    HttpClient Acme => factory.CreateClient(factory.DevelopmentKey);

    static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    async Task<string> EntryIdAsync() => (await CreateEntryAsync(Acme, UniqueName("hostile"))).GetProperty("id").GetString()!;

    // ---------- JSON bodies ----------

    [Theory]
    [InlineData("{\"name\":")]                              // truncated
    [InlineData("{name: 'x'}")]                             // not JSON
    [InlineData("{\"name\": 5}")]                           // wrong type
    [InlineData("{\"name\": \"ok\", \"visibility\": 3}")]   // wrong type
    [InlineData("{\"name\": \"ok\", \"description\": {}}")] // object for a string
    [InlineData("[{\"name\": \"x\"}]")]                     // array instead of object
    [InlineData("\"just a string\"")]
    [InlineData("null")]
    [InlineData("")]                                         // empty body
    [InlineData("{\"name\": \"ok\"} trailing")]
    public async Task Malformed_json_is_400(string body)
    {
        var problem = await ExpectClientErrorAsync(await Acme.PostAsync("/api/v1/registry", Json(body)), HttpStatusCode.BadRequest);

        Assert.Equal("invalid_request", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Deeply_nested_json_is_400()
    {
        var body = "{\"name\": \"ok\", \"description\": " + new string('[', 10_000) + new string(']', 10_000) + "}";

        await ExpectClientErrorAsync(await Acme.PostAsync("/api/v1/registry", Json(body)), HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("name")]
    [InlineData("description")]
    public async Task Ten_megabyte_string_field_is_400_naming_the_field(string field)
    {
        var body = new Dictionary<string, string> { ["name"] = UniqueName(), [field] = new string('a', 10 * 1024 * 1024) };

        var problem = await ExpectClientErrorAsync(await Acme.PostAsJsonAsync("/api/v1/registry", body), HttpStatusCode.BadRequest);

        Assert.Equal([field], ErrorFields(problem));
        Assert.True(problem.GetProperty("detail").GetString()!.Length < 1000, "the answer echoes the 10 MB value");
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/xml")]
    [InlineData(null)]
    public async Task Unsupported_content_type_is_415(string? contentType)
    {
        var content = new ByteArrayContent("{\"name\": \"x\"}"u8.ToArray());
        if (contentType is not null) content.Headers.ContentType = new MediaTypeHeaderValue(contentType);

        var problem = await ExpectClientErrorAsync(await Acme.PostAsync("/api/v1/registry", content), HttpStatusCode.UnsupportedMediaType);

        Assert.Equal("unsupported_media_type", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Json_body_on_push_is_415()
    {
        var response = await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions", Json("{\"version\": \"1.0.0\"}"));

        await ExpectClientErrorAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    // ---------- ids and route values ----------

    public static TheoryData<string> BadIds => new() { "not-a-uuid", "123", "00000000-0000-0000-0000-00000000000z", "%20", "'; DROP TABLE entries;--", new string('f', 5000) };

    [Theory]
    [MemberData(nameof(BadIds))]
    public async Task Bad_uuid_in_every_id_route_is_404(string badId)
    {
        var id = Uri.EscapeDataString(badId);
        foreach (var path in new[]
                 {
                     $"/api/v1/registry/{id}", $"/api/v1/registry/{id}/versions", $"/api/v1/registry/{id}/versions/1.0.0",
                     $"/api/v1/registry/{id}/versions/1.0.0/archive",
                 })
        {
            var problem = await ExpectClientErrorAsync(await Acme.GetAsync(path), HttpStatusCode.NotFound);
            Assert.Equal("not_found", problem.GetProperty("code").GetString());
        }

        var push = await Acme.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = "1.0.0" }, SkillArchive()));
        var pushProblem = await ExpectClientErrorAsync(push, HttpStatusCode.NotFound);
        Assert.Equal("not_found", pushProblem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Version_string_of_10_kb_is_400_on_push_and_404_on_read()
    {
        var id = await EntryIdAsync();
        var huge = "1.0.0-" + new string('a', 10 * 1024);

        var push = await Acme.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = huge }, SkillArchive()));
        var problem = await ExpectClientErrorAsync(push, HttpStatusCode.BadRequest);
        Assert.Equal(["version"], ErrorFields(problem));
        Assert.True(problem.GetProperty("detail").GetString()!.Length < 1000, "the answer echoes the 10 KB version");

        await ExpectClientErrorAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions/{huge}"), HttpStatusCode.NotFound);
        await ExpectClientErrorAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions/{huge}/archive"), HttpStatusCode.NotFound);
    }

    // ---------- multipart ----------

    [Fact]
    public async Task Multipart_without_archive_is_400_naming_archive()
    {
        var response = await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions", Multipart(new { version = "1.0.0" }, archive: null));

        var problem = await ExpectClientErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["archive"], ErrorFields(problem));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"version\": 1}")]
    [InlineData("[\"1.0.0\"]")]
    [InlineData("null")]
    [InlineData("   ")]
    public async Task Multipart_with_bad_metadata_is_400_naming_metadata(string metadata)
    {
        var response = await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions", Multipart(metadata, SkillArchive()));

        var problem = await ExpectClientErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["metadata"], ErrorFields(problem));
    }

    [Fact]
    public async Task Multipart_without_metadata_is_400_naming_metadata()
    {
        var response = await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions", Multipart(metadata: null, SkillArchive()));

        var problem = await ExpectClientErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["metadata"], ErrorFields(problem));
    }

    [Fact]
    public async Task Metadata_sent_as_a_file_part_is_read()
    {
        var form = Multipart(metadata: null, SkillArchive());
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes("{\"version\": \"1.0.0\"}")), "metadata", "metadata.json");

        await ExpectJsonAsync(await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions", form), HttpStatusCode.Created);
    }

    [Fact]
    public async Task Overlong_change_summary_is_400_naming_it()
    {
        var response = await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions",
            Multipart(new { version = "1.0.0", change_summary = new string('c', 2001) }, SkillArchive()));

        var problem = await ExpectClientErrorAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(["change_summary"], ErrorFields(problem));
    }

    [Theory]
    [InlineData("multipart/form-data")]                 // no boundary
    [InlineData("multipart/form-data; boundary=zzz")]   // body does not match the boundary
    [InlineData("multipart/form-data; boundary=\"\"")]
    public async Task Broken_multipart_body_is_a_client_error(string contentType)
    {
        await ExpectClientErrorAsync(await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions", BrokenMultipart(contentType)));
        await ExpectClientErrorAsync(await Acme.PostAsync("/api/v1/registry", BrokenMultipart(contentType)));
    }

    static ByteArrayContent BrokenMultipart(string contentType)
    {
        var content = new ByteArrayContent("--abc\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n"u8.ToArray());
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    [Fact]
    public async Task Url_encoded_form_on_push_is_415()
    {
        // The push accepts multipart/form-data only (declared with Accepts, enforced by routing).
        var response = await Acme.PostAsync($"/api/v1/registry/{await EntryIdAsync()}/versions",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["metadata"] = "{\"version\": \"1.0.0\"}" }));

        var problem = await ExpectClientErrorAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("unsupported_media_type", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Multipart_create_entry_with_a_10_mb_name_is_400()
    {
        var form = Multipart(metadata: null, SkillArchive());
        var metadata = JsonSerializer.Serialize(new { name = new string('n', 10 * 1024 * 1024), version = "1.0.0" });
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(metadata)), "metadata", "metadata.json");

        var problem = await ExpectClientErrorAsync(await Acme.PostAsync("/api/v1/registry", form), HttpStatusCode.BadRequest);
        Assert.Equal(["name"], ErrorFields(problem));
    }

    [Fact]
    public async Task Multipart_create_entry_with_a_10_mb_metadata_field_is_a_client_error()
    {
        // As a plain form field the value is over the form reader's per-value limit.
        var metadata = JsonSerializer.Serialize(new { name = new string('n', 10 * 1024 * 1024), version = "1.0.0" });

        await ExpectClientErrorAsync(await Acme.PostAsync("/api/v1/registry", Multipart(metadata, SkillArchive())));
    }

    [Fact]
    public async Task Multipart_create_entry_without_a_name_is_400_naming_name()
    {
        var problem = await ExpectClientErrorAsync(
            await Acme.PostAsync("/api/v1/registry", Multipart(new { version = "1.0.0" }, SkillArchive())), HttpStatusCode.BadRequest);

        Assert.Equal(["name"], ErrorFields(problem));
    }

    // ---------- routing ----------

    [Theory]
    [InlineData("/api/v1/nope")]
    [InlineData("/api/v1/registry/00000000-0000-0000-0000-000000000000/nope")]
    [InlineData("/api/v2/registry")]
    [InlineData("/api/v1/registry/00000000-0000-0000-0000-000000000000/versions/1.0.0/archive/extra")]
    public async Task Unknown_api_route_is_404_problem(string path)
    {
        foreach (var client in new[] { Acme, factory.CreateClient(apiKey: null) })
        {
            var problem = await ExpectClientErrorAsync(await client.GetAsync(path), HttpStatusCode.NotFound);
            Assert.Equal("not_found", problem.GetProperty("code").GetString());
        }
    }

    [Theory]
    [InlineData("DELETE", "/api/v1/registry")]
    [InlineData("PUT", "/api/v1/registry/00000000-0000-0000-0000-000000000000")]
    [InlineData("PATCH", "/api/v1/registry/00000000-0000-0000-0000-000000000000/versions")]
    [InlineData("POST", "/api/v1/registry/00000000-0000-0000-0000-000000000000/versions/1.0.0/archive")]
    [InlineData("POST", "/api/v1/public/registry")]
    public async Task Wrong_method_is_405_problem(string method, string path)
    {
        var response = await Acme.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = Json("{}") });

        var problem = await ExpectClientErrorAsync(response, HttpStatusCode.MethodNotAllowed);
        Assert.Equal("method_not_allowed", problem.GetProperty("code").GetString());
    }

    // ---------- races ----------

    [Fact]
    public async Task Concurrent_pushes_of_one_version_give_one_201_and_conflicts()
    {
        var id = await EntryIdAsync();

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            Acme.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = "1.0.0" }, SkillArchive($"race{i}")))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        foreach (var r in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            await ExpectProblemAsync(r, HttpStatusCode.Conflict, "conflict");
    }

    [Fact]
    public async Task Concurrent_pushes_of_different_versions_leave_the_highest_as_latest()
    {
        for (var round = 0; round < 5; round++)
        {
            var id = await EntryIdAsync();
            var versions = Enumerable.Range(0, 6).Select(i => $"1.{i}.0").ToList();

            var responses = await Task.WhenAll(versions.Select(v =>
                Acme.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = v }, SkillArchive(v)))));

            Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
            var entry = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
            Assert.Equal("1.5.0", entry.GetProperty("latest_version").GetString());
            Assert.Equal(6, await VersionCountAsync(id)); // the registry page's count
        }
    }

    Task<int> VersionCountAsync(string entryId) =>
        factory.WithDbAsync(db => db.Entries.Where(e => e.Id == Guid.Parse(entryId)).Select(e => e.VersionCount).SingleAsync());

    [Fact]
    public async Task Concurrent_identical_pushes_give_one_201_and_the_rest_200()
    {
        var id = await EntryIdAsync();
        var archive = SkillArchive("same");

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            Acme.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = "1.0.0" }, archive))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        var ids = new HashSet<string>();
        foreach (var r in responses)
            ids.Add((await ExpectJsonAsync(r, r.StatusCode == HttpStatusCode.Created ? HttpStatusCode.Created : HttpStatusCode.OK)).GetProperty("id").GetString()!);
        Assert.Single(ids);
        Assert.Equal(1, await VersionCountAsync(id)); // the pushes that lost the race counted nothing
        Assert.Equal(archive, await Acme.GetByteArrayAsync($"/api/v1/registry/{id}/versions/1.0.0/archive"));
    }

    [Fact]
    public async Task Concurrent_creates_of_one_name_give_one_201_and_conflicts()
    {
        var name = UniqueName("race");

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Acme.PostAsJsonAsync("/api/v1/registry", new { name })));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        foreach (var r in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            await ExpectProblemAsync(r, HttpStatusCode.Conflict, "conflict");
    }
}
