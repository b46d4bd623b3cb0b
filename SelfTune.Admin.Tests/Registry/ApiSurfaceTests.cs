using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>Health probes, the OpenAPI document (every registry route in it) and the API reference page.</summary>
public class ApiSurfaceTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>
{
    HttpClient Anonymous => factory.CreateClient(apiKey: null);

    static readonly string[] RegistryPaths =
    [
        "/api/v1/registry",
        "/api/v1/registry/{id}",
        "/api/v1/registry/{id}/versions",
        "/api/v1/registry/{id}/versions/{version}",
        "/api/v1/registry/{id}/versions/{version}/archive",
        "/api/v1/public/registry",
    ];

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_probes_answer_200_without_a_key(string path)
    {
        var response = await Anonymous.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // /healthz only says it lives; /readyz reports each check as JSON.
        var body = await response.Content.ReadAsStringAsync();
        if (path == "/healthz") Assert.Equal("Healthy", body);
        else Assert.StartsWith("{\"status\":\"Healthy\",\"checks\":{\"database\":{\"status\":\"Healthy\"", body);
    }

    [Fact]
    public async Task Openapi_document_lists_every_registry_path()
    {
        var response = await Anonymous.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();

        foreach (var path in RegistryPaths) Assert.Contains(path, paths);

        // And every API route the app actually maps (not only the ones this test knows about), with its methods.
        var endpoints = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && raw.TrimStart('/').StartsWith("api/v1/", StringComparison.Ordinal))
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .ToList();
        Assert.NotEmpty(endpoints);
        foreach (var endpoint in endpoints)
        {
            var path = Normalize(endpoint.RoutePattern.RawText!);
            Assert.True(doc.GetProperty("paths").TryGetProperty(path, out var item), $"{path} is missing from the OpenAPI document");
            foreach (var method in endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
                Assert.True(item.TryGetProperty(method.ToLowerInvariant(), out _), $"{method} {path} is missing from the OpenAPI document");
        }
    }

    [Fact]
    public async Task Openapi_document_gives_every_operation_its_problem_answers_and_says_which_need_no_key()
    {
        var doc = JsonDocument.Parse(await Anonymous.GetStringAsync("/openapi/v1.json")).RootElement;
        string[] methods = ["get", "post", "put", "patch", "delete"];
        Assert.Contains("## Errors", doc.GetProperty("info").GetProperty("description").GetString());
        Assert.True(doc.GetProperty("components").GetProperty("schemas").GetProperty("ProblemDetails").GetProperty("properties").TryGetProperty("code", out _));

        foreach (var path in doc.GetProperty("paths").EnumerateObject().Where(p => p.Name.StartsWith("/api/", StringComparison.Ordinal)))
        foreach (var operation in path.Value.EnumerateObject().Where(o => methods.Contains(o.Name)))
        {
            var what = $"{operation.Name} {path.Name}";
            var problems = operation.Value.GetProperty("responses").EnumerateObject().Where(r => r.Name[0] is '4' or '5').ToList();
            Assert.True(problems.Count >= 3, $"{what} documents {problems.Count} problem answers");
            foreach (var problem in problems)
                Assert.True(problem.Value.TryGetProperty("content", out var content) && content.TryGetProperty("application/problem+json", out var body)
                    && body.TryGetProperty("example", out var example) && example.GetProperty("code").GetString() is { Length: > 0 }
                    && problem.Value.GetProperty("description").GetString()!.Contains("`code`", StringComparison.Ordinal), $"{what} {problem.Name}");
            var names = problems.Select(p => p.Name).ToHashSet();
            Assert.Contains("429", names);
            var anonymous = path.Name.StartsWith("/api/v1/public/", StringComparison.Ordinal) || path.Name == "/api/v1/github/webhook";
            // Anonymous operations override the document's key requirement with an empty one; the rest answer 401 without a key.
            Assert.Equal(anonymous, operation.Value.TryGetProperty("security", out var security) && security.GetArrayLength() == 0);
            if (!anonymous) Assert.Contains("401", names);
            if (path.Name.Contains('{')) Assert.Contains("404", names);
        }
    }

    [Fact]
    public async Task Openapi_document_describes_the_body_of_every_api_answer()
    {
        var doc = JsonDocument.Parse(await Anonymous.GetStringAsync("/openapi/v1.json")).RootElement;
        string[] methods = ["get", "post", "put", "patch", "delete"];

        foreach (var path in doc.GetProperty("paths").EnumerateObject())
        foreach (var operation in path.Value.EnumerateObject().Where(o => methods.Contains(o.Name)))
        {
            var success = operation.Value.GetProperty("responses").EnumerateObject().Where(r => r.Name.StartsWith('2')).ToList();
            Assert.True(success.Count > 0, $"{operation.Name} {path.Name} describes no successful answer");
            if (path.Name.EndsWith("/archive", StringComparison.Ordinal)) continue; // the tar.gz itself
            foreach (var response in success)
                Assert.True(response.Value.TryGetProperty("content", out var content) && content.TryGetProperty("application/json", out var json)
                    && json.TryGetProperty("schema", out _), $"{operation.Name} {path.Name} {response.Name} has no JSON schema");
        }

        // The schemas carry the wire's field names, e.g. the install link's.
        var installUrl = doc.GetProperty("paths").GetProperty("/api/v1/github/install-url").GetProperty("get").GetProperty("responses")
            .GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString()!;
        var properties = doc.GetProperty("components").GetProperty("schemas").GetProperty(installUrl.Split('/')[^1]).GetProperty("properties");
        Assert.Equal(["url", "state", "expires_in"], properties.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Openapi_document_declares_the_bearer_scheme()
    {
        var doc = JsonDocument.Parse(await Anonymous.GetStringAsync("/openapi/v1.json")).RootElement;

        var scheme = doc.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("http", scheme.GetProperty("type").GetString());
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());
    }

    [Fact]
    public async Task Api_reference_page_answers_200()
    {
        // Scalar serves the page at "/api-reference/"; the bare path redirects there (curl -L, any browser).
        var response = await Anonymous.GetAsync("/api-reference");
        if (response.StatusCode is HttpStatusCode.Found or HttpStatusCode.MovedPermanently)
        {
            var target = new Uri(new Uri("http://localhost/api-reference"), response.Headers.Location!);
            Assert.Equal("/api-reference/", target.AbsolutePath);
            response = await Anonymous.GetAsync(target.PathAndQuery);
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        // The page points Scalar at the OpenAPI document (resolved against the site root by scalar.aspnetcore.js).
        Assert.Contains("\"url\":\"openapi/v1.json\"", html);
        foreach (var script in new[] { "scalar.js", "scalar.aspnetcore.js" })
            Assert.Equal(HttpStatusCode.OK, (await Anonymous.GetAsync("/api-reference/" + script)).StatusCode);
    }

    /// <summary>"/api/v1/registry/{id:guid}/" → "/api/v1/registry/{id}" (OpenAPI writes no constraints, no trailing slash).</summary>
    static string Normalize(string raw)
    {
        var path = "/" + raw.Trim('/');
        return System.Text.RegularExpressions.Regex.Replace(path, @"\{([^}:=?]+)[^}]*\}", "{$1}");
    }
}
