using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.OpenApi;

namespace SelfTune.Admin.Apis;

/// <summary>
/// What the OpenAPI document (and the reference page at <c>/api-reference</c>) says beyond the endpoints' own types:
/// an introduction (keys, plans, errors, paging, a quick start, the way back to the app), the problem answers each
/// operation can give, each with its <c>code</c>, and which operations need no key.
/// </summary>
public static class ApiReference
{
    public const string Introduction = """
        The REST API of SelfTune Admin, for scripts and CI. [Back to SelfTune Admin](/)

        ## Keys
        Every call sends an API key: `Authorization: Bearer st_live_...`. Create keys on the **API keys** page
        (admins and owners). A key belongs to one org and holds permissions: `registry:read` to read, `registry:push`
        to publish and to manage the GitHub integration. The public registry listing needs no key.

        ## Plans
        Publishing from GitHub and the `/api/v1/github` operations need the **pro** plan or higher: other orgs get
        `402 plan_required`. The people who run the deployment change plans.

        ## Errors
        Every error is `application/problem+json` with a machine-readable `code`: `invalid_request` (400),
        `unauthorized` (401), `plan_required` (402), `forbidden` (403), `not_found` (404), `conflict` (409),
        `validation_failed` (422, with `errors` per field), `rate_limited` (429, with `Retry-After`),
        `github_not_configured` or `github_unavailable` (503).

        ## Paging
        Lists answer one page and a `next_cursor`; pass it back as `?cursor=` for the next page, with `limit` for the
        page size. A null `next_cursor` is the last page.

        ## Quick start
        ```
        curl -H "Authorization: Bearer $SELFTUNE_KEY" https://selftune.example.com/api/v1/registry
        curl -H "Authorization: Bearer $SELFTUNE_KEY" -F archive=@skill.tar.gz -F version=1.0.0 \
             https://selftune.example.com/api/v1/registry/$ENTRY_ID/versions
        ```
        """;

    const string ProblemSchema = "ProblemDetails";

    /// <summary>The problem body every error shares.</summary>
    public static void AddProblemSchema(OpenApiDocument doc)
    {
        doc.Components ??= new();
        doc.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        doc.Components.Schemas[ProblemSchema] = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Description = "RFC 9457 problem details with the app's error code.",
            Properties = new Dictionary<string, IOpenApiSchema>
            {
                ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
                ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
                ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
                ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What went wrong, in words a person can act on." },
                ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Machine-readable: invalid_request, unauthorized, plan_required, forbidden, not_found, conflict, validation_failed, rate_limited, github_not_configured..." },
                ["errors"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object, Description = "For validation_failed: the messages per field.",
                    AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
                },
            },
        };
    }

    /// <summary>Adds the problem answers an operation can give, and drops the key requirement where none is needed.</summary>
    public static Task DescribeProblemsAndAuth(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        var path = "/" + (context.Description.RelativePath ?? "");
        var method = context.Description.HttpMethod ?? "GET";
        if (!path.StartsWith("/api/", StringComparison.Ordinal)) return Task.CompletedTask;
        var anonymous = path.StartsWith("/api/v1/public/", StringComparison.Ordinal);
        var webhook = path == "/api/v1/github/webhook";
        var github = path.StartsWith("/api/v1/github/", StringComparison.Ordinal) && !webhook;
        var writes = method is "POST" or "PUT" or "PATCH" or "DELETE";

        if (anonymous || webhook) operation.Security = []; // no API key: public reads, and GitHub signs its deliveries instead
        operation.Responses ??= new OpenApiResponses();
        void Add(int status, string code, string description)
        {
            var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses.ContainsKey(key)) return;
            operation.Responses[key] = new OpenApiResponse
            {
                Description = $"{description} (`code`: `{code}`)",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/problem+json"] = new()
                    {
                        Schema = new OpenApiSchemaReference(ProblemSchema, context.Document),
                        Example = new System.Text.Json.Nodes.JsonObject
                        {
                            ["type"] = $"https://tools.ietf.org/html/rfc9110#section-15.{(status < 500 ? 5 : 6)}.{(status < 500 ? status - 399 : status - 499)}",
                            ["title"] = ReasonPhrases.GetReasonPhrase(status),
                            ["status"] = status,
                            ["detail"] = description + ".",
                            ["code"] = code,
                        },
                    },
                },
            };
        }

        Add(400, "invalid_request", "A parameter or the body cannot be read");
        if (webhook) Add(401, "invalid_signature", "X-Hub-Signature-256 is missing or does not match the webhook secret");
        else if (anonymous) Add(401, "unauthorized", "A key was sent and is not valid (without one the call is anonymous)");
        else if (!anonymous)
        {
            Add(401, "unauthorized", "No API key, or one that is unknown, revoked or expired");
            Add(403, "forbidden", "The key lacks the permission, or the org's role rules refuse the change");
        }
        if (github) Add(402, "plan_required", "The org's plan does not include the GitHub integration");
        if (path.Contains('{')) Add(404, "not_found", "Nothing with that id in the key's org");
        if (writes && !webhook) Add(409, "conflict", "The change conflicts with the current state");
        if (method is "POST" or "PUT" or "PATCH" && !webhook) Add(422, "validation_failed", "The request is well-formed but refused, with `errors` per field");
        Add(429, "rate_limited", "Too many requests from this address or key; see Retry-After");
        if (github || webhook) Add(503, "github_not_configured", "The GitHub App is not configured, or GitHub cannot be reached");
        return Task.CompletedTask;
    }
}
