using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// RFC 9457 problem details with the stable <c>code</c> extension every API error carries.
/// </summary>
public static class ApiProblem
{
    public static ProblemHttpResult Create(int status, string detail, string? code = null, IDictionary<string, string[]>? errors = null)
    {
        var extensions = new Dictionary<string, object?> { ["code"] = code ?? CodeFor(status) };
        if (errors is { Count: > 0 }) extensions["errors"] = errors;
        return TypedResults.Problem(detail: detail, statusCode: status, extensions: extensions);
    }

    public static ProblemHttpResult BadRequest(string detail, IDictionary<string, string[]>? errors = null) =>
        Create(StatusCodes.Status400BadRequest, detail, "invalid_request", errors);

    /// <summary>The default code for a status, used when a problem is written without one (status-code pages, framework errors).</summary>
    public static string CodeFor(int status) => status switch
    {
        400 => "invalid_request",
        401 => "unauthorized",
        402 => "plan_required",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        429 => "rate_limited",
        502 or 504 => "upstream_failure",
        503 => "unavailable",
        _ => status >= 500 ? "internal_error" : "error",
    };

    public static void AddCodeExtension(ProblemDetailsContext context)
    {
        var status = context.ProblemDetails.Status ?? context.HttpContext.Response.StatusCode;
        context.ProblemDetails.Extensions.TryAdd("code", CodeFor(status));
        context.ProblemDetails.Extensions.Remove("exception");
    }
}

/// <summary>
/// Turns what a client can send wrong (unreadable JSON, wrong types, oversized bodies) into a 400/413
/// problem for API calls, described by <see cref="InputProblems"/> in plain words; anything else is a 500 that shows no internals.
/// </summary>
public sealed class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> log) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        // By now the middleware has pointed Request.Path at the error page; the feature keeps the original.
        var path = http.Features.Get<IExceptionHandlerFeature>()?.Path ?? http.Request.Path;
        if (!path.StartsWith("/api", StringComparison.OrdinalIgnoreCase)) return false;

        // A GitHub App whose key cannot be read (bad path, lost Data Protection keys) is a configuration problem: 503.
        if (exception is GitHub.Client.GitHubNotConfiguredException notConfigured)
            exception = GitHub.GitHubFailures.NotConfigured(notConfigured.MissingSettings);

        if (exception is ProblemException refused)
        {
            http.Response.StatusCode = refused.Status;
            var refusal = new ProblemDetails { Status = refused.Status, Detail = refused.Message };
            refusal.Extensions["code"] = refused.Code;
            if (refused.Errors is { Count: > 0 }) refusal.Extensions["errors"] = refused.Errors;
            return await problems.TryWriteAsync(new() { HttpContext = http, ProblemDetails = refusal });
        }

        var (status, detail) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, InputProblems.Describe(bad, http)),
            JsonException json => (400, InputProblems.DescribeBody(json)),
            _ => (500, "An unexpected error occurred. The trace id identifies it in the server log."),
        };
        if (status >= 500) log.LogError(exception, "Unhandled error on {Path}", path);

        http.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Detail = detail };
        problem.Extensions["code"] = ApiProblem.CodeFor(status);
        return await problems.TryWriteAsync(new() { HttpContext = http, ProblemDetails = problem, Exception = exception });
    }
}
