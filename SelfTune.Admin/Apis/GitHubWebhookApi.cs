using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub;
using SelfTune.Admin.GitHub.Client;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.GitHub.Webhooks;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Jobs;

namespace SelfTune.Admin.Apis;

/// <summary>
/// GitHub's webhook deliveries (SPEC section 8). The signature is checked before anything else; an accepted delivery is
/// stored together with its job in one transaction and answered 202 before any GitHub call, so a crash loses nothing.
/// </summary>
public static class GitHubWebhookApi
{
    public const long MaxBodyBytes = 25 * 1024 * 1024;

    /// <summary>Events the processor acts on; anything else is stored as ignored.</summary>
    public static readonly IReadOnlySet<string> HandledEvents = new HashSet<string>(["push", "create", "installation", "installation_repositories", "repository", "pull_request", "ping"]);

    static readonly Meter Meter = new("SelfTune.Admin");
    static readonly Counter<long> Rejected = Meter.CreateCounter<long>("selftune.webhooks.rejected", description: "Webhook deliveries refused for a bad signature.");

    public static IEndpointRouteBuilder MapGitHubWebhookApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/github/webhook", Receive).WithTags("GitHub")
            .WithSummary("GitHub App webhook receiver (X-Hub-Signature-256).")
            .WithMetadata(new RequestSizeLimitMetadata(MaxBodyBytes));
        return app;
    }

    sealed class RequestSizeLimitMetadata(long limit) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize => limit;
    }

    static async Task<IResult> Receive(HttpContext http, AdminDbContext db, IGitHubAppCredentialSource credentials, JobQueue queue,
        TimeProvider clock, ILoggerFactory loggers, DeliveryNotifier deliveries, CancellationToken ct)
    {
        var log = loggers.CreateLogger("SelfTune.Admin.Webhooks");
        var secret = (await credentials.GetAsync(ct))?.WebhookSecret;
        if (string.IsNullOrEmpty(secret)) throw GitHubFailures.NotConfigured(["GitHub:WebhookSecret"]);

        if (http.Request.ContentLength > MaxBodyBytes)
            throw new ProblemException(413, "payload_too_large", "Webhook bodies are limited to 25 MB.");
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, ct);
        var body = buffer.ToArray();

        string? signature = http.Request.Headers["X-Hub-Signature-256"];
        if (!SignatureMatches(body, signature, secret))
        {
            Rejected.Add(1);
            log.LogWarning("Rejected a webhook delivery {DeliveryId} with a {Problem} signature from {Remote}",
                http.Request.Headers["X-GitHub-Delivery"].ToString(), signature is null ? "missing" : "wrong", http.Connection.RemoteIpAddress);
            return ApiProblem.Create(401, "The X-Hub-Signature-256 signature is missing or does not match the webhook secret.", "invalid_signature");
        }

        string? eventName = http.Request.Headers["X-GitHub-Event"];
        string? deliveryId = http.Request.Headers["X-GitHub-Delivery"];
        if (string.IsNullOrWhiteSpace(eventName) || string.IsNullOrWhiteSpace(deliveryId) || deliveryId.Length > 100 || eventName.Length > 100)
            return ApiProblem.BadRequest("X-GitHub-Event and X-GitHub-Delivery headers are required.");

        if (await db.Deliveries.AnyAsync(d => d.DeliveryId == deliveryId, ct))
            return TypedResults.Ok(new { status = "duplicate", delivery_id = deliveryId });

        string? action; long? installationId, repositoryId; string? repositoryName;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return ApiProblem.BadRequest("The webhook body must be a JSON object.");
            action = StringProperty(root, "action");
            installationId = root.TryGetProperty("installation", out var i) ? IdOf(i) : null;
            var hasRepo = root.TryGetProperty("repository", out var r) && r.ValueKind == JsonValueKind.Object;
            repositoryId = hasRepo ? IdOf(r) : null;
            repositoryName = hasRepo ? StringProperty(r, "full_name") : null;
        }
        catch (JsonException e)
        {
            return ApiProblem.BadRequest("The webhook body is not valid JSON: " + InputProblems.Describe(e) + ".");
        }

        var handled = HandledEvents.Contains(eventName);
        var delivery = new WebhookDelivery
        {
            DeliveryId = deliveryId, Event = eventName, Action = action, InstallationId = installationId, RepositoryId = repositoryId,
            RepositoryFullName = repositoryName, ReceivedAt = clock.GetUtcNow(), Payload = Encoding.UTF8.GetString(body),
            Outcome = handled ? DeliveryOutcome.Queued : DeliveryOutcome.Ignored,
            OutcomeMessage = handled ? null : $"SelfTune does not act on '{eventName}' events.",
        };
        db.Deliveries.Add(delivery);
        if (handled) queue.Enqueue(db, PublishJobs.Webhook, new PublishJobs.WebhookPayload(delivery.Id));
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (e.InnerException is SqliteException { SqliteErrorCode: 19 })
        {
            return TypedResults.Ok(new { status = "duplicate", delivery_id = deliveryId }); // the same delivery raced in twice
        }
        if (handled) queue.Notify();
        deliveries.Publish(delivery);
        return TypedResults.Accepted((string?)null, new { status = handled ? "queued" : "ignored", delivery_id = deliveryId });
    }

    static string? StringProperty(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>The numeric <c>id</c> of an object; null when there is none or it is not a number (TryGetInt64 throws on a string).</summary>
    static long? IdOf(JsonElement obj) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out var value)
            ? value
            : null;

    /// <summary>Constant-time comparison of GitHub's <c>sha256=&lt;hex&gt;</c> HMAC of the raw body.</summary>
    public static bool SignatureMatches(byte[] body, string? header, string secret)
    {
        if (header is null || !header.StartsWith("sha256=", StringComparison.Ordinal)) return false;
        byte[] given;
        try { given = Convert.FromHexString(header.AsSpan(7)); }
        catch (FormatException) { return false; }
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body);
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }
}
