using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// Issue 8 item 11, SPEC section 10: the entries, versions and public lists are paged with <c>limit</c> (default 50,
/// at most 200) and an opaque <c>cursor</c>; the seed's wrapper stays, with <c>next_cursor</c> beside it.
/// </summary>
public class PagingApiTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    HttpClient Acme => factory.CreateClient(factory.DevelopmentKey);

    /// <summary>Follows next_cursor to the end; returns every page's <paramref name="field"/> values, page by page.</summary>
    static async Task<List<string[]>> AllPagesAsync(HttpClient client, string path, string list, string field, int limit)
    {
        var pages = new List<string[]>();
        string? cursor = null;
        do
        {
            var separator = path.Contains('?') ? '&' : '?';
            var url = $"{path}{separator}limit={limit}" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            var body = await ExpectJsonAsync(await client.GetAsync(url), HttpStatusCode.OK);
            Assert.True(body.TryGetProperty("next_cursor", out var next), $"no next_cursor in {body}"); // present, null on the last page
            pages.Add(body.GetProperty(list).EnumerateArray().Select(e => e.GetProperty(field).GetString()!).ToArray());
            cursor = next.ValueKind == JsonValueKind.Null ? null : next.GetString();
            Assert.True(pages.Count <= 100, "paging does not end");
        } while (cursor is not null);
        return pages;
    }

    [Fact]
    public async Task Entries_page_by_name_and_the_last_page_has_a_null_next_cursor()
    {
        var (orgId, key) = await factory.CreateOrgAsync(Plan.Pro);
        var names = new[] { "echo", "alpha", "delta", "bravo", "charlie" };
        foreach (var name in names) await AddEntryAsync(orgId, name, Visibility.Org);

        var pages = await AllPagesAsync(factory.CreateClient(key), "/api/v1/registry", "entries", "name", limit: 2);

        Assert.Equal([2, 2, 1], pages.Select(p => p.Length));
        Assert.Equal(names.Order(StringComparer.Ordinal), pages.SelectMany(p => p));
    }

    [Fact]
    public async Task Without_a_limit_a_page_holds_50_entries_and_the_limit_goes_up_to_200()
    {
        var (orgId, key) = await factory.CreateOrgAsync(Plan.Pro);
        await AddEntriesAsync(orgId, 205);
        var client = factory.CreateClient(key);

        var first = await ExpectJsonAsync(await client.GetAsync("/api/v1/registry"), HttpStatusCode.OK);
        Assert.Equal(PageRequest.DefaultLimit, first.GetProperty("entries").GetArrayLength());
        Assert.Equal(JsonValueKind.String, first.GetProperty("next_cursor").ValueKind);

        var largest = await ExpectJsonAsync(await client.GetAsync("/api/v1/registry?limit=200"), HttpStatusCode.OK);
        Assert.Equal(200, largest.GetProperty("entries").GetArrayLength());
        var pages = await AllPagesAsync(client, "/api/v1/registry", "entries", "name", limit: 200);
        Assert.Equal([200, 5], pages.Select(p => p.Length));
        Assert.Equal(205, pages.SelectMany(p => p).Distinct().Count());
    }

    [Fact]
    public async Task Versions_page_newest_first_with_ties_on_published_at_broken_by_id()
    {
        var (orgId, key) = await factory.CreateOrgAsync(Plan.Pro);
        var entryId = await AddEntryAsync(orgId, "tied", Visibility.Org);
        var at = DateTimeOffset.UtcNow;
        // Three published in the same instant (a burst of pushes), then two later ones.
        foreach (var (version, minutes) in new[] { ("1.0.0", 0), ("1.0.1", 0), ("1.0.2", 0), ("1.1.0", 1), ("2.0.0", 2) })
            await AddVersionAsync(entryId, version, at.AddMinutes(minutes));

        var pages = await AllPagesAsync(factory.CreateClient(key), $"/api/v1/registry/{entryId}/versions", "versions", "version", limit: 2);

        Assert.Equal([2, 2, 1], pages.Select(p => p.Length));
        var all = pages.SelectMany(p => p).ToList();
        Assert.Equal(["2.0.0", "1.1.0"], all.Take(2));
        Assert.Equal(["1.0.0", "1.0.1", "1.0.2"], all.Skip(2).Order()); // each of the tied ones exactly once
    }

    [Fact]
    public async Task A_version_published_between_two_pages_neither_repeats_nor_shifts_the_next_page()
    {
        var id = (await CreateEntryAsync(Acme, UniqueName())).GetProperty("id").GetString()!;
        await PushAsync(Acme, id, "1.0.0", SkillArchive("1"));
        await PushAsync(Acme, id, "1.1.0", SkillArchive("2"));
        await PushAsync(Acme, id, "1.2.0", SkillArchive("3"));

        var first = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions?limit=2"), HttpStatusCode.OK);
        Assert.Equal(["1.2.0", "1.1.0"], first.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetString()));
        await PushAsync(Acme, id, "2.0.0", SkillArchive("4"));
        var cursor = first.GetProperty("next_cursor").GetString()!;
        var second = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions?limit=2&cursor={Uri.EscapeDataString(cursor)}"), HttpStatusCode.OK);

        Assert.Equal(["1.0.0"], second.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetString()));
        Assert.Equal(JsonValueKind.Null, second.GetProperty("next_cursor").ValueKind);
    }

    [Fact]
    public async Task The_public_list_pages_too()
    {
        var prefix = UniqueName("pub");
        var (orgId, _) = await factory.CreateOrgAsync(Plan.Pro);
        for (var i = 0; i < 3; i++) await AddEntryAsync(orgId, $"{prefix}-{i}", Visibility.Public);
        await AddEntryAsync(orgId, $"{prefix}-org", Visibility.Org);

        var pages = await AllPagesAsync(factory.CreateClient(apiKey: null), "/api/v1/public/registry", "entries", "name", limit: 1);

        var ours = pages.SelectMany(p => p).Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        Assert.Equal([$"{prefix}-0", $"{prefix}-1", $"{prefix}-2"], ours);
        Assert.All(pages, p => Assert.True(p.Length <= 1));
    }

    public static TheoryData<string> BadLimits => new() { "0", "-1", "201", "1000000000000", "abc", "1.5", "%20", "5e1" };

    [Theory]
    [MemberData(nameof(BadLimits))]
    public async Task A_bad_limit_is_400_naming_limit(string limit)
    {
        var entryId = (await CreateEntryAsync(Acme, UniqueName())).GetProperty("id").GetString()!;
        foreach (var path in new[] { "/api/v1/registry", $"/api/v1/registry/{entryId}/versions", "/api/v1/public/registry" })
        {
            var problem = await ExpectProblemAsync(await Acme.GetAsync($"{path}?limit={limit}"), HttpStatusCode.BadRequest, "invalid_request");
            Assert.Equal(["limit"], ErrorFields(problem));
            Assert.Contains("1 to 200", problem.GetProperty("detail").GetString());
        }
    }

    public static TheoryData<string> BadCursors => new()
    {
        "garbage", "!!!", "%00", "e30", // e30 is base64url of {}
        Base64("[]"), Base64("[\"entries\"]"), Base64("[\"entries\",\"a\",\"not-a-guid\"]"), Base64("[\"entries\",null,null]"),
        Base64("[\"versions\",\"yesterday\",\"" + Guid.Empty + "\"]"), Base64("[\"other\",\"a\",\"" + Guid.Empty + "\"]"),
        Base64("\"just a string\""), Base64("[\"entries\",1,2]"), new string('A', 5000),
    };

    [Theory]
    [MemberData(nameof(BadCursors))]
    public async Task A_garbage_cursor_is_400_never_500(string cursor)
    {
        var entryId = (await CreateEntryAsync(Acme, UniqueName())).GetProperty("id").GetString()!;
        foreach (var path in new[] { "/api/v1/registry", $"/api/v1/registry/{entryId}/versions", "/api/v1/public/registry" })
        {
            var problem = await ExpectProblemAsync(await Acme.GetAsync($"{path}?cursor={Uri.EscapeDataString(cursor)}"), HttpStatusCode.BadRequest, "invalid_request");
            Assert.Equal(["cursor"], ErrorFields(problem));
        }
    }

    [Fact]
    public async Task A_cursor_of_the_entries_list_is_refused_by_the_versions_list()
    {
        var (orgId, key) = await factory.CreateOrgAsync(Plan.Pro);
        await AddEntryAsync(orgId, "a", Visibility.Org);
        var entryId = await AddEntryAsync(orgId, "b", Visibility.Org);
        var client = factory.CreateClient(key);
        var entries = await ExpectJsonAsync(await client.GetAsync("/api/v1/registry?limit=1"), HttpStatusCode.OK);
        var cursor = entries.GetProperty("next_cursor").GetString()!;

        await ExpectProblemAsync(await client.GetAsync($"/api/v1/registry/{entryId}/versions?cursor={Uri.EscapeDataString(cursor)}"),
            HttpStatusCode.BadRequest, "invalid_request");
    }

    static string Base64(string json) => WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes(json));

    Task<Guid> AddEntryAsync(Guid orgId, string name, Visibility visibility) => factory.WithDbAsync(async db =>
    {
        var entry = NewEntry(orgId, name, visibility);
        db.Entries.Add(entry);
        await db.SaveChangesAsync();
        return entry.Id;
    });

    Task<int> AddEntriesAsync(Guid orgId, int count) => factory.WithDbAsync(async db =>
    {
        for (var i = 0; i < count; i++) db.Entries.Add(NewEntry(orgId, $"skill-{i:D4}", Visibility.Org));
        return await db.SaveChangesAsync();
    });

    static RegistryEntry NewEntry(Guid orgId, string name, Visibility visibility) => new()
    {
        OrgId = orgId, Name = name, Visibility = visibility, CreatedBy = Guid.NewGuid(), CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
    };

    Task<int> AddVersionAsync(Guid entryId, string version, DateTimeOffset publishedAt) => factory.WithDbAsync(async db =>
    {
        var entry = db.Entries.Single(e => e.Id == entryId);
        db.Versions.Add(new SkillVersion
        {
            OrgId = entry.OrgId, EntryId = entryId, Version = version, Source = VersionSource.Cli,
            ContentHash = new string('a', 64), Size = 10, FileCount = 1, FileManifest = "[]",
            SkillName = "tied", SkillDescription = "Tied.", SkillMarkdown = "# Tied", CreatedBy = Guid.NewGuid(), PublishedAt = publishedAt,
        });
        entry.VersionCount++;
        return await db.SaveChangesAsync();
    });
}
