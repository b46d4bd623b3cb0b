using System.Net;
using System.Text;
using System.Text.Json;
using SelfTune.Admin.Infrastructure;
using Xunit.Abstractions;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// Issue 8, item 9: a 400 for input that request binding refused says in plain words what the field should be, with the
/// stable code invalid_request, and never names a .NET type (it used to: <c>System.Nullable`1[System.Int64]</c>,
/// <c>SelfTune.Admin.GitHub.BindInstallationRequest</c>).
/// </summary>
public sealed class InputProblemsTests(GitHubHarness h, ITestOutputHelper output) : IClassFixture<GitHubHarness>
{
    const string AnyConnection = "00000000-0000-0000-0000-000000000001";

    public static TheoryData<string, string, string?, string> BadRequests => new()
    {
        // method, path, JSON body (null: none), what the detail must say
        { "POST", "/api/v1/github/installations", """{"installation_id": "abc", "state": "x"}""", "'installation_id' must be a whole number (line 1, position " },
        { "POST", "/api/v1/github/installations", """{"installation_id": 1, "suspended": "no"}""", "'suspended' must be true or false" },
        { "POST", "/api/v1/github/installations", """[1, 2]""", "the body must be a JSON object" },
        { "POST", "/api/v1/github/installations", """{"installation_id": }""", "The request body is not valid JSON" },
        { "POST", "/api/v1/registry", """{"name": 5}""", "'name' must be a string" },
        { "POST", "/api/v1/registry", """{"name": "ok", "visibility": {}}""", "'visibility' must be a string" },
        { "POST", "/api/v1/registry", """{"name": """, "The request body is not valid JSON" },
        { "POST", "/api/v1/github/connections", """{"entry_id": "not-a-uuid"}""", "'entry_id' must be a UUID" },
        { "POST", "/api/v1/github/connections", """{"installation_id": 1.5}""", "'installation_id' must be a whole number" },
        { "POST", "/api/v1/github/connections", """{"auto_publish": "yes"}""", "'auto_publish' must be true or false" },
        { "PATCH", $"/api/v1/github/connections/{AnyConnection}", """{"write_back_enabled": 1}""", "'write_back_enabled' must be true or false" },
        { "POST", "/api/v1/github/settings", """{"write_back_mode": ["checks"]}""", "'write_back_mode' must be a string" },
        { "GET", $"/api/v1/github/connections/{AnyConnection}/attempts?limit=abc", null, "Query parameter 'limit' must be a whole number." },
        { "GET", $"/api/v1/github/connections/{AnyConnection}/attempts?limit=99999999999", null, "Query parameter 'limit' must be a whole number." },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_input_is_a_400_problem_in_plain_words_without_dotnet_type_names(string method, string path, string? body, string expected)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");

        using var response = await h.Api.SendAsync(request);

        var problem = await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "invalid_request");
        var text = problem.GetRawText();
        var detail = problem.GetProperty("detail").GetString()!;
        output.WriteLine(detail);
        Assert.True(detail.Contains(expected, StringComparison.Ordinal), $"Expected '{expected}' in: {detail}");
        Assert.DoesNotContain("System.", text);
        Assert.DoesNotContain("SelfTune.Admin.", text);
        Assert.DoesNotContain("`1", text);
        Assert.DoesNotContain("Nullable", text);
    }

    [Theory]
    [InlineData("System.Nullable`1[System.Int64]", "$.installation_id", "'installation_id' must be a whole number")]
    [InlineData("System.Guid", "$.entry_id", "'entry_id' must be a UUID")]
    [InlineData("SelfTune.Admin.Data.WriteBackMode", "$.mode", "'mode' must be one of: off, checks, checks_and_prs")]
    [InlineData("System.Collections.Generic.List`1[System.String]", "$.tags", "'tags' must be an array")]
    // A record bound through its constructor is what System.Text.Json names, whichever of its fields was wrong.
    [InlineData("SelfTune.Admin.GitHub.BindInstallationRequest", "$.installation_id", "'installation_id' must be a whole number")]
    [InlineData("SelfTune.Admin.GitHub.BindInstallationRequest", "$.suspended", "'suspended' must be true or false")]
    [InlineData("SelfTune.Admin.GitHub.BindInstallationRequest", "$", "the body must be a JSON object")]
    public void Serializer_type_names_become_words(string typeName, string path, string expected)
    {
        var json = new JsonException($"The JSON value could not be converted to {typeName}. Path: {path} | LineNumber: 0 | BytePositionInLine: 22.",
            path, 0, 22);

        Assert.Equal(expected + " (line 1, position 23)", InputProblems.Describe(json));
    }
}
