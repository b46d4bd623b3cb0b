using Microsoft.AspNetCore.Authentication;

namespace SelfTune.Admin.Auth;

/// <summary>
/// Endpoint filters for the REST API: an API key (401), its permission (403), the org's suspension (403
/// <c>org_suspended</c> for anything but a read) and the org's plan (402), each answered as problem details. The key
/// handler reads plan and suspension from the org on every request, so an operator's change applies to the next call.
/// </summary>
public static class ApiAuthorization
{
    /// <summary>Requires a valid API key holding <paramref name="permission"/>.</summary>
    public static TBuilder RequireApiKey<TBuilder>(this TBuilder builder, string permission) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var result = await AuthenticateAsync(http);
            if (result is not { Succeeded: true }) return Unauthorized(http, result);
            if (!http.User.HasPermission(permission))
                return ApiProblem.Create(StatusCodes.Status403Forbidden, $"The API key lacks the '{permission}' permission.", "forbidden");
            // A suspended org's keys still read (GET, HEAD); every change is refused here, whichever service it would reach.
            if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method) && http.User.IsSuspended(out var reason))
                return ApiProblem.Create(StatusCodes.Status403Forbidden, OrgStanding.SuspendedMessage(reason), "org_suspended");
            return await next(context);
        });

    /// <summary>Requires the caller's org to be on <paramref name="minimum"/> or a higher plan. Place after <see cref="RequireApiKey{TBuilder}"/>.</summary>
    public static TBuilder RequirePlan<TBuilder>(this TBuilder builder, Plan minimum) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var plan = context.HttpContext.User.GetPlan();
            if (plan < minimum)
                return ApiProblem.Create(StatusCodes.Status402PaymentRequired,
                    $"This feature requires the {minimum.ToString().ToLowerInvariant()} plan or higher; the org is on {plan.ToString().ToLowerInvariant()}.",
                    "plan_required");
            return await next(context);
        });

    /// <summary>
    /// For endpoints that also serve anonymous callers (public registry reads): a present but bad key is still a 401,
    /// an absent key leaves the caller anonymous.
    /// </summary>
    public static TBuilder AllowOptionalApiKey<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var result = await AuthenticateAsync(context.HttpContext);
            if (result is { Succeeded: false, None: false }) return Unauthorized(context.HttpContext, result);
            return await next(context);
        });

    /// <summary>
    /// The authentication middleware already ran the API-key handler for Bearer requests (see the policy scheme in
    /// AuthenticationSetup); asking again returns its cached result, including why a key was refused.
    /// </summary>
    static Task<AuthenticateResult> AuthenticateAsync(HttpContext http) =>
        http.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName);

    static IResult Unauthorized(HttpContext http, AuthenticateResult result)
    {
        if (http.Items[ApiKeyAuthenticationHandler.Failures.RateLimitedItem] is string retryAfter)
        {
            http.Response.Headers.RetryAfter = retryAfter;
            return ApiProblem.Create(StatusCodes.Status429TooManyRequests, result.Failure!.Message, "rate_limited");
        }
        var detail = result.Failure?.Message ?? "This endpoint requires an API key: 'Authorization: Bearer <API key>'.";
        http.Response.Headers.WWWAuthenticate = result.Failure is null
            ? "Bearer"
            : $"Bearer error=\"invalid_token\", error_description=\"{detail}\"";
        return ApiProblem.Create(StatusCodes.Status401Unauthorized, detail, "unauthorized");
    }
}
