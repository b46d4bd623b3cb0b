using System.Text.Json.Serialization;
using Microsoft.OpenApi;

namespace SelfTune.Admin.Apis;

public static class ApiSetup
{
    /// <summary>
    /// What every <c>/api</c> answer shares: snake_case JSON, problem details with a <c>code</c> for every error, and the
    /// OpenAPI document with the API-key scheme.
    /// </summary>
    public static void AddSelfTuneApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddProblemDetails(o => o.CustomizeProblemDetails = ApiProblem.AddCodeExtension);
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true); // so bad input reaches ApiExceptionHandler
        services.ConfigureHttpJsonOptions(o => ConfigureJson(o.SerializerOptions));
        services.AddOpenApi(o => o.AddOperationTransformer(ApiReference.DescribeProblemsAndAuth).AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "SelfTune Admin API";
            doc.Info.Description = ApiReference.Introduction;
            ApiReference.AddProblemSchema(doc);
            doc.Components ??= new();
            doc.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            doc.Components.SecuritySchemes["ApiKey"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer",
                Description = "An API key (st_live_...) created on the API keys page.",
            };
            doc.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("ApiKey", doc)] = [] }];
            return Task.CompletedTask;
        }));
    }

    static void ConfigureJson(JsonSerializerOptions json)
    {
        json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        json.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        json.Converters.Add(new UtcTimestampConverter());
    }
}
