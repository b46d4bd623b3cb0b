using System.Net;
using System.Text.Json;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// SPEC sections 2 and 10: another org's object is a 404 (never 403) on every endpoint; <c>public</c> entries are
/// listed and readable without a key, <c>unlisted</c> readable by id only, <c>org</c> only with a key of that org.
/// </summary>
public class TenancyTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    HttpClient Acme => factory.CreateClient(factory.DevelopmentKey);
    HttpClient Anonymous => factory.CreateClient(apiKey: null);

    async Task<(string Id, string Name)> PublishedEntryAsync(string visibility)
    {
        var name = UniqueName(visibility);
        var entry = await CreateEntryAsync(Acme, name, visibility);
        var id = entry.GetProperty("id").GetString()!;
        await PushAsync(Acme, id, "1.0.0", SkillArchive(name));
        return (id, name);
    }

    static string[] ReadPaths(string id) =>
    [
        $"/api/v1/registry/{id}",
        $"/api/v1/registry/{id}/versions",
        $"/api/v1/registry/{id}/versions/1.0.0",
        $"/api/v1/registry/{id}/versions/1.0.0/archive",
    ];

    static async Task<string[]> ListedNamesAsync(HttpClient client, string path)
    {
        var body = await ExpectJsonAsync(await client.GetAsync(path), HttpStatusCode.OK);
        return body.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray();
    }

    [Fact]
    public async Task Another_orgs_key_gets_404_not_403_on_every_endpoint()
    {
        var (id, name) = await PublishedEntryAsync("org");
        var (_, otherKey) = await factory.CreateOrgAsync(Plan.Pro);
        var other = factory.CreateClient(otherKey);

        foreach (var path in ReadPaths(id))
        {
            // The owner can read it: the 404 below is about tenancy, not a broken path.
            Assert.Equal(HttpStatusCode.OK, (await Acme.GetAsync(path)).StatusCode);
            var problem = await ExpectProblemAsync(await other.GetAsync(path), HttpStatusCode.NotFound, "not_found");
            Assert.DoesNotContain(name, problem.GetProperty("detail").GetString()); // no existence leak through the message
        }

        var push = await other.PostAsync($"/api/v1/registry/{id}/versions", Multipart(new { version = "2.0.0" }, SkillArchive("other")));
        await ExpectProblemAsync(push, HttpStatusCode.NotFound, "not_found");

        // Nothing was written to org A's entry.
        var versions = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{id}/versions"), HttpStatusCode.OK);
        Assert.Equal(["1.0.0"], versions.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetString()));
    }

    [Fact]
    public async Task The_404_for_another_orgs_entry_is_the_same_as_for_a_missing_one()
    {
        var (id, _) = await PublishedEntryAsync("org");
        var (_, otherKey) = await factory.CreateOrgAsync(Plan.Pro);
        var other = factory.CreateClient(otherKey);
        var missing = Guid.NewGuid().ToString();

        var foreign = await ExpectProblemAsync(await other.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.NotFound, "not_found");
        var absent = await ExpectProblemAsync(await other.GetAsync($"/api/v1/registry/{missing}"), HttpStatusCode.NotFound, "not_found");

        Assert.Equal(absent.GetProperty("detail").GetString()!.Replace(missing, id), foreign.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Another_orgs_list_does_not_show_the_entries()
    {
        var (_, orgName) = await PublishedEntryAsync("org");
        var (_, publicName) = await PublishedEntryAsync("public");
        var (_, otherKey) = await factory.CreateOrgAsync(Plan.Pro);
        var other = factory.CreateClient(otherKey);

        Assert.Empty(await ListedNamesAsync(other, "/api/v1/registry"));
        Assert.Empty(await ListedNamesAsync(other, $"/api/v1/registry?name={orgName}"));
        Assert.Empty(await ListedNamesAsync(other, $"/api/v1/registry?name={publicName}"));

        var own = await ListedNamesAsync(Acme, "/api/v1/registry");
        Assert.Contains(orgName, own);
        Assert.Contains(publicName, own);
        Assert.Equal([orgName], await ListedNamesAsync(Acme, $"/api/v1/registry?name={orgName}"));
    }

    [Fact]
    public async Task Another_org_cannot_push_to_a_public_entry()
    {
        var (id, _) = await PublishedEntryAsync("public");
        var (_, otherKey) = await factory.CreateOrgAsync(Plan.Pro);

        var push = await factory.CreateClient(otherKey).PostAsync($"/api/v1/registry/{id}/versions",
            Multipart(new { version = "2.0.0" }, SkillArchive("other")));

        await ExpectProblemAsync(push, HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Public_entries_are_listed_and_readable_without_a_key()
    {
        var (id, name) = await PublishedEntryAsync("public");

        Assert.Contains(name, await ListedNamesAsync(Anonymous, "/api/v1/public/registry"));
        Assert.Equal([name], await ListedNamesAsync(Anonymous, $"/api/v1/public/registry?name={name}"));
        foreach (var path in ReadPaths(id))
            Assert.Equal(HttpStatusCode.OK, (await Anonymous.GetAsync(path)).StatusCode);

        var entry = await ExpectJsonAsync(await Anonymous.GetAsync($"/api/v1/registry/{id}"), HttpStatusCode.OK);
        Assert.Equal("public", entry.GetProperty("visibility").GetString());

        // Another org's key reads it too (public means public).
        var (_, otherKey) = await factory.CreateOrgAsync(Plan.Free);
        Assert.Equal(HttpStatusCode.OK, (await factory.CreateClient(otherKey).GetAsync($"/api/v1/registry/{id}")).StatusCode);
    }

    [Fact]
    public async Task Unlisted_entries_are_readable_by_id_without_a_key_but_never_listed()
    {
        var (id, name) = await PublishedEntryAsync("unlisted");

        foreach (var path in ReadPaths(id))
            Assert.Equal(HttpStatusCode.OK, (await Anonymous.GetAsync(path)).StatusCode);
        Assert.DoesNotContain(name, await ListedNamesAsync(Anonymous, "/api/v1/public/registry"));
        Assert.Empty(await ListedNamesAsync(Anonymous, $"/api/v1/public/registry?name={name}"));
    }

    [Fact]
    public async Task Org_entries_are_404_without_a_key_and_never_publicly_listed()
    {
        var (id, name) = await PublishedEntryAsync("org");

        foreach (var path in ReadPaths(id))
            await ExpectProblemAsync(await Anonymous.GetAsync(path), HttpStatusCode.NotFound, "not_found");
        Assert.DoesNotContain(name, await ListedNamesAsync(Anonymous, "/api/v1/public/registry"));
    }

    [Fact]
    public async Task Public_list_shows_only_public_entries()
    {
        await PublishedEntryAsync("public");
        await PublishedEntryAsync("org");
        await PublishedEntryAsync("unlisted");

        var body = await ExpectJsonAsync(await Anonymous.GetAsync("/api/v1/public/registry"), HttpStatusCode.OK);
        var visibilities = body.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("visibility").GetString()).Distinct();
        Assert.Equal(["public"], visibilities);
    }

    [Fact]
    public async Task Missing_version_of_a_readable_entry_is_404()
    {
        var (id, _) = await PublishedEntryAsync("public");

        var problem = await ExpectProblemAsync(await Anonymous.GetAsync($"/api/v1/registry/{id}/versions/9.9.9"), HttpStatusCode.NotFound, "not_found");
        Assert.Contains("9.9.9", problem.GetProperty("detail").GetString());
        await ExpectProblemAsync(await Anonymous.GetAsync($"/api/v1/registry/{id}/versions/9.9.9/archive"), HttpStatusCode.NotFound, "not_found");
    }
}
