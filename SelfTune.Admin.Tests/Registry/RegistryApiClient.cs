using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using SelfTune.Admin.Tests.Packaging;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>What a script with curl does against the registry API, and what it checks in the answers.</summary>
internal static partial class RegistryApiClient
{
    public const string SkillMd = "---\nname: pdf-tools\ndescription: Extract text from PDF files.\n---\n# PDF tools\n";

    /// <summary>A valid skill archive; <paramref name="marker"/> changes its bytes (and so its hash).</summary>
    public static byte[] SkillArchive(string marker = "v1") =>
        new TarBuilder().File("SKILL.md", SkillMd).File("scripts/run.sh", "echo " + marker + "\n").ToTarGz();

    public static string UniqueName(string prefix = "skill") => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>multipart/form-data with a <c>metadata</c> field (JSON text) and, when given, an <c>archive</c> file.</summary>
    public static MultipartFormDataContent Multipart(object? metadata, byte[]? archive)
    {
        var form = new MultipartFormDataContent();
        if (metadata is not null)
            form.Add(new StringContent(metadata as string ?? JsonSerializer.Serialize(metadata), Encoding.UTF8), "metadata");
        if (archive is not null)
        {
            var file = new ByteArrayContent(archive);
            file.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
            form.Add(file, "archive", "skill.tar.gz");
        }
        return form;
    }

    public static async Task<JsonElement> CreateEntryAsync(HttpClient client, string name, string visibility = "org", string? description = null)
    {
        var response = await client.PostAsJsonAsync("/api/v1/registry", new { name, description, visibility });
        return await ExpectJsonAsync(response, HttpStatusCode.Created);
    }

    public static async Task<JsonElement> PushAsync(HttpClient client, string entryId, string version, byte[] archive, HttpStatusCode expected = HttpStatusCode.Created)
    {
        var response = await client.PostAsync($"/api/v1/registry/{entryId}/versions", Multipart(new { version, change_summary = "test" }, archive));
        return await ExpectJsonAsync(response, expected);
    }

    /// <summary>Asserts the status and a JSON body, and returns the body.</summary>
    public static async Task<JsonElement> ExpectJsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"Expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>
    /// Asserts an RFC 9457 answer: the status, <c>application/problem+json</c>, the stable <c>code</c>, a non-empty
    /// <c>detail</c> and no internals. Returns the body.
    /// </summary>
    public static async Task<JsonElement> ExpectProblemAsync(HttpResponseMessage response, HttpStatusCode expected, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"Expected {(int)expected}, got {(int)response.StatusCode}: {Shorten(body)}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"Expected application/problem+json, got '{response.Content.Headers.ContentType}': {Shorten(body)}");
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()), $"empty detail: {body}");
        Assert.False(problem.TryGetProperty("exception", out _), $"exception leaked: {Shorten(body)}");
        Assert.DoesNotContain("   at ", body); // no stack trace frames
        return problem;
    }

    /// <summary>For hostile input: the answer is a client error (never 5xx), in problem+json, with a code.</summary>
    public static async Task<JsonElement> ExpectClientErrorAsync(HttpResponseMessage response, HttpStatusCode? expected = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode is >= 400 and < 500, $"Expected a 4xx, got {(int)response.StatusCode}: {Shorten(body)}");
        if (expected is not null)
            Assert.True(response.StatusCode == expected, $"Expected {(int)expected}, got {(int)response.StatusCode}: {Shorten(body)}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"Expected application/problem+json, got '{response.Content.Headers.ContentType}': {Shorten(body)}");
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("code").GetString()));
        Assert.DoesNotContain("   at ", body);
        return problem;
    }

    /// <summary>The field names <c>errors</c> holds (validation problems).</summary>
    public static string[] ErrorFields(JsonElement problem) =>
        problem.TryGetProperty("errors", out var errors) ? errors.EnumerateObject().Select(p => p.Name).ToArray() : [];

    /// <summary>Times as the seed writes them: <c>2026-04-01T10:00:00Z</c>.</summary>
    public static void AssertUtcTimestamp(JsonElement value)
    {
        Assert.Equal(JsonValueKind.String, value.ValueKind);
        Assert.Matches(UtcTimestamp(), value.GetString()!);
    }

    public static string Shorten(string s) => s.Length <= 2000 ? s : s[..2000] + "…";

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]
    private static partial Regex UtcTimestamp();
}
