using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// The framework's rate limiter for the sign-in endpoints (the development sign-in, the OIDC challenge and callback,
/// sign-out): <c>RateLimits:SignInPerMinute</c> (default 60) per client address, then 429 with Retry-After and a
/// problem body. The webhook's own admission (signature failures per address, large bodies at once) is in
/// <see cref="WebhookBodyGate"/>, where it can decide before reading a body.
/// </summary>
public static class RateLimits
{
    static readonly string[] SignInPaths = ["/account/signin", "/account/dev-signin", "/account/signout", "/signin-oidc", "/signout-callback-oidc"];

    public static void AddSelfTuneRateLimits(this WebApplicationBuilder builder)
    {
        var perMinute = builder.Configuration.GetValue("RateLimits:SignInPerMinute", 60);
        builder.Services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
                SignInPaths.Any(p => http.Request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase))
                    ? RateLimitPartition.GetFixedWindowLimiter("signin:" + http.Connection.RemoteIpAddress,
                        _ => new FixedWindowRateLimiterOptions { PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 })
                    : RateLimitPartition.GetNoLimiter(""));
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (context, ct) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? (int)Math.Ceiling(wait.TotalSeconds) : 60;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ApiProblem.Create(429, $"Too many sign-in requests from this address; retry in {retryAfter} seconds.")
                    .ExecuteAsync(context.HttpContext);
            };
        });
    }
}
