using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using SelfTune.Admin.Data;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Tests.Components;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 12: the connections and attempts lists are paged like the registry's (<c>limit</c> default 50, at most 200; an
/// opaque <c>cursor</c>); the seed's wrapper stays with <c>next_cursor</c> beside it. Connections come oldest first,
/// attempts newest first, ties on the time broken by id.
/// </summary>
public sealed class ConnectionPagingApiTests(AdminAppFactory app) : IClassFixture<AdminAppFactory>
{
    /// <summary>Follows next_cursor to the end; every page's ids, page by page.</summary>
    static async Task<List<string[]>> AllPagesAsync(HttpClient client, string path, string list, int limit, Func<Task>? betweenPages = null)
    {
        var pages = new List<string[]>();
        string? cursor = null;
        do
        {
            var body = await ExpectJsonAsync(await client.GetAsync($"{path}?limit={limit}" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}")), HttpStatusCode.OK);
            Assert.True(body.TryGetProperty("next_cursor", out var next), $"no next_cursor in {body}");
            pages.Add(body.GetProperty(list).EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToArray());
            cursor = next.ValueKind == JsonValueKind.Null ? null : next.GetString();
            if (cursor is not null && betweenPages is not null) await betweenPages();
            Assert.True(pages.Count <= 100, "paging does not end");
        } while (cursor is not null);
        return pages;
    }

    async Task<(Guid OrgId, HttpClient Api, long InstallationId)> OrgAsync()
    {
        var (orgId, key) = await app.CreateOrgAsync(Plan.Pro);
        var installation = await app.InstallationAsync(orgId);
        return (orgId, app.CreateClient(key), installation.InstallationId);
    }

    /// <summary>Connections created at <paramref name="at"/> (several in the same instant: a tie only the id breaks).</summary>
    Task<List<GitHubConnection>> AddConnectionsAsync(Guid orgId, long installationId, int count, DateTimeOffset at) => app.WithDbAsync(async db =>
    {
        var rows = new List<GitHubConnection>();
        for (var i = 0; i < count; i++)
        {
            var entry = new RegistryEntry { OrgId = orgId, Name = "skill-" + Guid.NewGuid().ToString("N")[..10], CreatedAt = at, UpdatedAt = at };
            var connection = new GitHubConnection
            {
                OrgId = orgId, EntryId = entry.Id, InstallationId = installationId, RepoId = PageSeed.NewGitHubId(),
                RepoOwner = "acme-gh", RepoName = entry.Name, CreatedAt = at, UpdatedAt = at,
            };
            db.Entries.Add(entry);
            db.Connections.Add(connection);
            rows.Add(connection);
        }
        await db.SaveChangesAsync();
        return rows;
    });

    Task<List<PublishAttempt>> AddAttemptsAsync(GitHubConnection connection, int count, DateTimeOffset at) => app.WithDbAsync(async db =>
    {
        var rows = Enumerable.Range(0, count).Select(_ => new PublishAttempt
        {
            OrgId = connection.OrgId, ConnectionId = connection.Id, Trigger = AttemptTrigger.Push, Status = AttemptStatus.Published, CreatedAt = at,
        }).ToList();
        db.Attempts.AddRange(rows);
        await db.SaveChangesAsync();
        return rows;
    });

    [Fact]
    public async Task Connections_page_oldest_first_each_once_with_ties_broken_by_id_and_a_null_cursor_at_the_end()
    {
        var (orgId, api, installation) = await OrgAsync();
        var start = DateTimeOffset.UtcNow.AddHours(-1);
        var first = await AddConnectionsAsync(orgId, installation, 1, start);
        var tied = await AddConnectionsAsync(orgId, installation, 3, start.AddMinutes(1)); // a burst in the same instant
        var last = await AddConnectionsAsync(orgId, installation, 1, start.AddMinutes(2));

        var pages = await AllPagesAsync(api, "/api/v1/github/connections", "connections", limit: 2);

        Assert.Equal([2, 2, 1], pages.Select(p => p.Length));
        var all = pages.SelectMany(p => p).ToList();
        Assert.Equal(first[0].Id.ToString(), all[0]);
        Assert.Equal(tied.Select(c => c.Id.ToString()).Order(), all.Skip(1).Take(3).Order());
        Assert.Equal(last[0].Id.ToString(), all[4]);
    }

    [Fact]
    public async Task A_connection_created_between_two_pages_comes_at_the_end_and_none_repeats_or_goes_missing()
    {
        var (orgId, api, installation) = await OrgAsync();
        var before = await AddConnectionsAsync(orgId, installation, 5, DateTimeOffset.UtcNow.AddMinutes(-5));
        var added = new List<GitHubConnection>();

        var pages = await AllPagesAsync(api, "/api/v1/github/connections", "connections", limit: 2,
            betweenPages: async () => added.AddRange(await AddConnectionsAsync(orgId, installation, 1, DateTimeOffset.UtcNow)));

        var all = pages.SelectMany(p => p).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(before.Select(c => c.Id.ToString()).Order(), all.Take(5).Order());
        Assert.Equal(added.Select(c => c.Id.ToString()), all.Skip(5)); // each one added, in order, after the ones before
    }

    [Fact]
    public async Task Without_a_limit_a_page_holds_50_connections_and_the_limit_goes_up_to_200()
    {
        var (orgId, api, installation) = await OrgAsync();
        await AddConnectionsAsync(orgId, installation, 205, DateTimeOffset.UtcNow);

        var page = await ExpectJsonAsync(await api.GetAsync("/api/v1/github/connections"), HttpStatusCode.OK);
        Assert.Equal(PageRequest.DefaultLimit, page.GetProperty("connections").GetArrayLength());
        Assert.Equal(JsonValueKind.String, page.GetProperty("next_cursor").ValueKind);

        var pages = await AllPagesAsync(api, "/api/v1/github/connections", "connections", limit: 200);
        Assert.Equal([200, 5], pages.Select(p => p.Length));
        Assert.Equal(205, pages.SelectMany(p => p).Distinct().Count());
    }

    [Fact]
    public async Task Attempts_page_newest_first_and_one_made_between_pages_neither_repeats_nor_shifts_the_next_page()
    {
        var (orgId, api, installation) = await OrgAsync();
        var connection = (await AddConnectionsAsync(orgId, installation, 1, DateTimeOffset.UtcNow))[0];
        var at = DateTimeOffset.UtcNow.AddMinutes(-10);
        var oldest = await AddAttemptsAsync(connection, 1, at);
        var tied = await AddAttemptsAsync(connection, 3, at.AddMinutes(1));
        var newest = await AddAttemptsAsync(connection, 1, at.AddMinutes(2));
        var during = new List<PublishAttempt>();

        var pages = await AllPagesAsync(api, $"/api/v1/github/connections/{connection.Id}/attempts", "attempts", limit: 2,
            betweenPages: async () => during.AddRange(await AddAttemptsAsync(connection, 1, DateTimeOffset.UtcNow)));

        Assert.Equal([2, 2, 1], pages.Select(p => p.Length)); // the attempts made meanwhile are newer: they belong before page one
        var all = pages.SelectMany(p => p).ToList();
        Assert.Equal(newest[0].Id.ToString(), all[0]);
        Assert.Equal(tied.Select(a => a.Id.ToString()).Order(), all.Skip(1).Take(3).Order());
        Assert.Equal(oldest[0].Id.ToString(), all[4]);
        Assert.Equal(2, during.Count);
        Assert.DoesNotContain(all, id => during.Any(a => a.Id.ToString() == id));

        var fresh = await AllPagesAsync(api, $"/api/v1/github/connections/{connection.Id}/attempts", "attempts", limit: 200);
        Assert.Equal(during.Select(a => a.Id.ToString()).Reverse(), fresh.Single().Take(2)); // a new first page has them, newest first
    }

    [Fact]
    public async Task Each_connections_last_attempt_is_the_first_of_its_attempts_list_whatever_order_they_were_made_in()
    {
        var (orgId, api, installation) = await OrgAsync();
        var connections = await AddConnectionsAsync(orgId, installation, 3, DateTimeOffset.UtcNow);
        var at = DateTimeOffset.UtcNow.AddMinutes(-10);
        // The first: its newest attempt made in the middle, and a long history after it in insertion order.
        await AddAttemptsAsync(connections[0], 1, at);
        var newest = await AddAttemptsAsync(connections[0], 1, at.AddMinutes(5));
        for (var i = 0; i < 30; i++) await AddAttemptsAsync(connections[0], 1, at.AddSeconds(i));
        // The second: three made in the same instant, so the id decides, as it does for the attempts list.
        await AddAttemptsAsync(connections[1], 1, at);
        await AddAttemptsAsync(connections[1], 3, at.AddMinutes(1));
        // The third: none.

        var body = await ExpectJsonAsync(await api.GetAsync("/api/v1/github/connections"), HttpStatusCode.OK);
        var listed = body.GetProperty("connections").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!, c => c.GetProperty("last_attempt"));
        Assert.Equal(newest[0].Id.ToString(), listed[connections[0].Id.ToString()].GetProperty("id").GetString());
        foreach (var connection in connections.Take(2))
        {
            var attempts = await ExpectJsonAsync(await api.GetAsync($"/api/v1/github/connections/{connection.Id}/attempts"), HttpStatusCode.OK);
            Assert.Equal(attempts.GetProperty("attempts")[0].GetProperty("id").GetString(), listed[connection.Id.ToString()].GetProperty("id").GetString());
        }
        Assert.Equal(JsonValueKind.Null, listed[connections[2].Id.ToString()].ValueKind);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("201")]
    public async Task A_limit_out_of_range_is_400_naming_limit(string limit)
    {
        var (orgId, api, installation) = await OrgAsync();
        var connection = (await AddConnectionsAsync(orgId, installation, 1, DateTimeOffset.UtcNow))[0];
        foreach (var path in new[] { "/api/v1/github/connections", $"/api/v1/github/connections/{connection.Id}/attempts" })
        {
            var problem = await ExpectProblemAsync(await api.GetAsync($"{path}?limit={limit}"), HttpStatusCode.BadRequest, "invalid_request");
            Assert.Equal(["limit"], ErrorFields(problem));
            Assert.Contains("1 to 200", problem.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task A_garbage_cursor_or_another_lists_cursor_is_400_naming_cursor()
    {
        var (orgId, api, installation) = await OrgAsync();
        var connection = (await AddConnectionsAsync(orgId, installation, 3, DateTimeOffset.UtcNow))[0];
        var connectionsCursor = (await ExpectJsonAsync(await api.GetAsync("/api/v1/github/connections?limit=1"), HttpStatusCode.OK))
            .GetProperty("next_cursor").GetString()!;
        var attempts = $"/api/v1/github/connections/{connection.Id}/attempts";
        var bad = new[]
        {
            ("/api/v1/github/connections", "garbage"),
            ("/api/v1/github/connections", Base64("[\"connections\",\"yesterday\",\"" + Guid.Empty + "\"]")),
            ("/api/v1/github/connections", Base64("[\"entries\",\"a\",\"" + Guid.Empty + "\"]")),
            (attempts, connectionsCursor), // a cursor of the connections list is not one of the attempts list
            (attempts, Base64("[\"attempts\",\"" + DateTimeOffset.UtcNow.ToString("O") + "\",\"not-a-guid\"]")),
        };
        foreach (var (path, cursor) in bad)
        {
            var problem = await ExpectProblemAsync(await api.GetAsync($"{path}?cursor={Uri.EscapeDataString(cursor)}"), HttpStatusCode.BadRequest, "invalid_request");
            Assert.Equal(["cursor"], ErrorFields(problem));
        }
    }

    static string Base64(string json) => WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes(json));
}
