using System.Security.Cryptography;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// Response headers that tell browsers to be strict with this site, in every environment: on every answer (API and
/// pages) no MIME sniffing and no full URLs in the Referer to other sites; on HTML a Content-Security-Policy. HSTS and
/// Secure cookies are production-only and live beside the rest of the pipeline (Program.cs).
/// </summary>
public static class SecurityHeaders
{
    const string NonceKey = "selftune.csp-nonce";

    /// <summary>
    /// What pages may load. Blazor Server and MudBlazor need only this site: scripts from 'self' (the few inline ones,
    /// Blazor's import map and App.razor's helpers, carry the request's nonce), inline styles (MudBlazor sets style
    /// attributes and theme &lt;style&gt; blocks), and the circuit's WebSocket. No other host is allowed, and no site may frame
    /// a page (clickjacking). form-action is left open on purpose: sign-out and the GitHub App manifest form post to
    /// or redirect through the identity provider and GitHub.
    /// </summary>
    static string PagePolicy(string nonce) =>
        "default-src 'self'; " +
        $"script-src 'self' 'nonce-{nonce}'; " +
        "style-src 'self' 'unsafe-inline'; " +
        "img-src 'self' data:; " +
        "font-src 'self' data:; " +
        "connect-src 'self' ws: wss:; " +
        "object-src 'none'; " +
        "base-uri 'self'; " +
        "frame-ancestors 'none'";

    /// <summary>
    /// The API reference (Scalar) configures itself with inline scripts that carry no nonce; it shows only the public
    /// OpenAPI document, so it alone may run inline scripts. Everything else is as strict as the pages.
    /// </summary>
    static string ApiReferencePolicy =>
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) => app.Use((http, next) =>
    {
        var nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)); // hex: nothing to escape in HTML or the header
        http.Items[NonceKey] = nonce;
        // Added as the answer starts, so they also reach answers written by the exception handler and status-code pages,
        // which clear the headers set before them.
        http.Response.OnStarting(() =>
        {
            var headers = http.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "strict-origin-when-cross-origin";
            if (http.Response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true)
                headers.ContentSecurityPolicy = http.Request.Path.StartsWithSegments("/api-reference") ? ApiReferencePolicy : PagePolicy(nonce);
            return Task.CompletedTask;
        });
        return next(http);
    });

    /// <summary>The nonce this request's Content-Security-Policy allows inline scripts with (App.razor puts it on them).</summary>
    public static string? ScriptNonce(this HttpContext http) => http.Items[NonceKey] as string;
}
