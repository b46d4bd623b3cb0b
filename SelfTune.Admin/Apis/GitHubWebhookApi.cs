using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;
using Octokit.Webhooks;

namespace SelfTune.Admin.Apis;

/// <summary>
/// GitHub's webhook deliveries (SPEC section 8). The signature is checked before anything else; an accepted delivery is
/// stored together with its job in one transaction and answered 202 before any GitHub call, so a crash loses nothing.
/// </summary>
/// <remarks>
/// Hostile input costs little: a post without a well-formed signature header is refused before its body is read; a body is
/// read once and held in one buffer, whose signature Octokit's <see cref="WebhookSignatureValidator"/> checks; large bodies wait for a <see cref="WebhookBodyGate"/> slot
/// (503 when none is free); only deliveries the app acts on keep their payload.
/// </remarks>
public static class GitHubWebhookApi
{
    public const long MaxBodyBytes = 25 * 1024 * 1024;

    /// <summary>Seconds a sender is asked to wait when every slot for large bodies is taken.</summary>
    const int BusyRetryAfterSeconds = 10;


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

    static async Task<Results<Accepted<WebhookReceipt>, Ok<WebhookReceipt>, ProblemHttpResult>> Receive(HttpContext http,
        [AsParameters] WebhookReceiverServices services, CancellationToken ct)
    {
        var log = services.Loggers.CreateLogger("SelfTune.Admin.Webhooks");
        var secret = (await services.Credentials.GetAsync(ct))?.WebhookSecret;
        if (string.IsNullOrEmpty(secret)) throw GitHubFailures.NotConfigured(["GitHub:WebhookSecret"]);

        var contentLength = http.Request.ContentLength;
        if (contentLength > MaxBodyBytes)
            throw new ProblemException(413, "payload_too_large", "Webhook bodies are limited to 25 MB.");

        string? signature = http.Request.Headers["X-Hub-Signature-256"];
        var usable = ParseSignature(signature) is not null;
        var source = http.Connection.RemoteIpAddress;
        var failures = services.Gate.SignatureFailures;
        if (failures.IsBlocked(source) && (!usable || contentLength is not <= WebhookBodyGate.LargeBodyBytes))
        {
            Count("rate_limited");
            http.Response.Headers.RetryAfter = failures.RetryAfterSeconds;
            return ApiProblem.Create(429, $"Too many deliveries from {source} failed the signature check lately; retry in {failures.RetryAfterSeconds} seconds.");
        }
        if (!usable)
            return await RejectSignatureAsync(http, log, signature is null ? RejectedDeliveries.Reason.Missing : RejectedDeliveries.Reason.Malformed, services.Gate, ct); // the body is never read

        using var slot = services.Gate.TryEnter(contentLength);
        if (slot is null)
        {
            http.Response.Headers.RetryAfter = BusyRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return ApiProblem.Create(503, $"Too many large webhook bodies are being received at once; retry in {BusyRetryAfterSeconds} seconds.", "busy");
        }

        // Octokit's validator (HMAC-SHA256, fixed-time comparison) over the one buffered copy: it takes the whole body,
        // not a stream, and the header was already checked above, so a post without a usable signature is never read.
        var body = await ReadBodyAsync(http.Request.BodyReader, contentLength, ct);
        if (WebhookSignatureValidator.Verify(signature, secret, body.Span) != WebhookSignatureValidationResult.Valid)
            return await RejectSignatureAsync(http, log, RejectedDeliveries.Reason.Mismatch, services.Gate, ct);

        string? eventName = http.Request.Headers["X-GitHub-Event"];
        string? deliveryId = http.Request.Headers["X-GitHub-Delivery"];
        if (string.IsNullOrWhiteSpace(eventName) || string.IsNullOrWhiteSpace(deliveryId) || deliveryId.Length > 100 || eventName.Length > 100)
            return ApiProblem.BadRequest("X-GitHub-Event and X-GitHub-Delivery headers are required.");

        var span = System.Diagnostics.Activity.Current; // the request's span: the job this delivery queues continues its trace
        span?.SetTag("github.delivery", deliveryId);
        span?.SetTag("github.event", eventName);
        WebhookFields? fields;
        try
        {
            fields = WebhookFields.Read(body.Span);
        }
        catch (JsonException e)
        {
            if (await IsStoredAsync(http, deliveryId, ct)) return TypedResults.Ok(new WebhookReceipt("duplicate", deliveryId)); // as received before
            return ApiProblem.BadRequest("The webhook body is not valid JSON: " + InputProblems.Describe(e) + ".");
        }
        if (fields is null)
        {
            if (await IsStoredAsync(http, deliveryId, ct)) return TypedResults.Ok(new WebhookReceipt("duplicate", deliveryId));
            return ApiProblem.BadRequest("The webhook body must be a JSON object.");
        }

        // An event the app does not act on keeps its headers and outcome, not up to 25 MB of body nobody will read.
        // The store answers a delivery id seen before as a duplicate (ON CONFLICT in the batch), so no look-up comes first.
        // A push is decided here when no connection uses its repository (DeliveryIngest says why that is safe).
        var outcomeWithoutConnections = eventName == WebhookEvents.Push.Name
            ? WebhookProcessor.OutcomeWithoutConnections(fields.Ref, fields.Deleted, fields.After) : null;
        var stored = await services.Ingest.StoreAsync(new DeliveryIngest.Incoming(deliveryId, eventName, fields.Action, fields.InstallationId,
            fields.RepositoryId, fields.RepositoryFullName, () => Encoding.UTF8.GetString(body.Span), OutcomeWithoutConnections: outcomeWithoutConnections), ct);
        var receipt = stored.Result switch
        {
            DeliveryIngest.Result.Duplicate => "duplicate",
            DeliveryIngest.Result.Queued => "queued",
            _ => "ignored",
        };
        Count(receipt);
        return receipt == "duplicate" ? TypedResults.Ok(new WebhookReceipt(receipt, deliveryId)) : TypedResults.Accepted((string?)null, new WebhookReceipt(receipt, deliveryId));
    }

    static void Count(string outcome) => SelfTuneTelemetry.WebhookDeliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Counts the failure against the address and records the delivery, without its body, as rejected (bounded: <see cref="RejectedDeliveries"/>).</summary>
    static async Task<ProblemHttpResult> RejectSignatureAsync(HttpContext http, ILogger log, RejectedDeliveries.Reason reason, WebhookBodyGate gate, CancellationToken ct)
    {
        var source = http.Connection.RemoteIpAddress;
        gate.SignatureFailures.CountFailure(source);
        Count("rejected");
        string? deliveryId = http.Request.Headers["X-GitHub-Delivery"], eventName = http.Request.Headers["X-GitHub-Event"];
        log.LogWarning("Rejected a webhook delivery {DeliveryId} with a {Problem} signature from {Remote}",
            deliveryId?.Length > RejectedDeliveries.MaxHeaderChars ? deliveryId[..RejectedDeliveries.MaxHeaderChars] : deliveryId, reason, source);
        await http.RequestServices.GetRequiredService<RejectedDeliveries>().RecordAsync(reason, source, eventName, deliveryId, ct);
        return ApiProblem.Create(401, "The X-Hub-Signature-256 signature is missing or does not match the webhook secret.", "invalid_signature");
    }

    /// <summary>The digest of GitHub's <c>sha256=&lt;64 hex digits&gt;</c> header; null when the header is missing or not of that form.</summary>
    public static byte[]? ParseSignature(string? header)
    {
        const string prefix = "sha256=";
        if (header is null || header.Length != prefix.Length + SHA256.HashSizeInBytes * 2 || !header.StartsWith(prefix, StringComparison.Ordinal))
            return null;
        try { return Convert.FromHexString(header.AsSpan(prefix.Length)); }
        catch (FormatException) { return null; }
    }

    /// <summary>
    /// Reads the body once into one buffer (sized by Content-Length when there is one), so it is neither copied again nor
    /// read twice. More than <see cref="MaxBodyBytes"/> is 413.
    /// </summary>
    static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(PipeReader reader, long? contentLength, CancellationToken ct)
    {
        var buffer = new MemoryStream((int)Math.Min(contentLength ?? 64 * 1024, MaxBodyBytes));
        while (true)
        {
            var read = await reader.ReadAsync(ct);
            foreach (var segment in read.Buffer)
            {
                if (buffer.Length + segment.Length > MaxBodyBytes)
                    throw new ProblemException(413, "payload_too_large", "Webhook bodies are limited to 25 MB.");
                buffer.Write(segment.Span);
            }
            reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted) break;
        }
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    /// <summary>
    /// Only a refused body reaches the table this way: a stored one is answered as a duplicate by the store itself. The
    /// context is resolved here, not bound with the receiver's services: building one for every delivery cost the receiver
    /// about a tenth of its throughput (7,170 against 6,550 deliveries/s at 8 connections without it), and only a refused body asks.
    /// </summary>
    static Task<bool> IsStoredAsync(HttpContext http, string deliveryId, CancellationToken ct) =>
        http.RequestServices.GetRequiredService<AdminDbContext>().Deliveries.AnyAsync(d => d.DeliveryId == deliveryId, ct);
}

/// <summary>
/// The few fields the receiver stores beside the payload: <c>action</c>, <c>installation.id</c>, <c>repository.id</c> and
/// <c>repository.full_name</c>, and the push fields that decide a push for an unconnected repository at ingest (<c>ref</c>,
/// <c>after</c>, <c>deleted</c>), read in one forward pass with <see cref="Utf8JsonReader"/> (no document is built). The whole
/// body is still read, so malformed JSON anywhere is refused as before; a field of the wrong type reads as null.
/// </summary>
sealed record WebhookFields(string? Action, long? InstallationId, long? RepositoryId, string? RepositoryFullName,
    string? Ref = null, string? After = null, bool Deleted = false)
{
    /// <summary>The fields; null when the body is JSON but not an object.</summary>
    /// <exception cref="JsonException">The body is not well-formed JSON (or nests deeper than 64 levels).</exception>
    public static WebhookFields? Read(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 64 });
        if (!reader.Read()) throw new JsonException("The body is empty.");
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            EnsureEnd(ref reader);
            return null;
        }
        string? action = null, gitRef = null, after = null; long? installationId = null, repositoryId = null; string? repositoryName = null;
        var deleted = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("action"u8)) { reader.Read(); action = reader.TokenType == JsonTokenType.String ? reader.GetString() : SkipValue(ref reader); }
            else if (reader.ValueTextEquals("ref"u8)) { reader.Read(); gitRef = reader.TokenType == JsonTokenType.String ? reader.GetString() : SkipValue(ref reader); }
            else if (reader.ValueTextEquals("after"u8)) { reader.Read(); after = reader.TokenType == JsonTokenType.String ? reader.GetString() : SkipValue(ref reader); }
            else if (reader.ValueTextEquals("deleted"u8)) { reader.Read(); deleted = reader.TokenType == JsonTokenType.True; reader.Skip(); }
            else if (reader.ValueTextEquals("installation"u8)) { reader.Read(); installationId = ReadObject(ref reader, out _); }
            else if (reader.ValueTextEquals("repository"u8))
            {
                reader.Read();
                var isObject = reader.TokenType == JsonTokenType.StartObject;
                var id = ReadObject(ref reader, out var fullName);
                (repositoryId, repositoryName) = isObject ? (id, fullName) : (null, null);
            }
            else { reader.Read(); reader.Skip(); }
        }
        EnsureEnd(ref reader);
        return new WebhookFields(action, installationId, repositoryId, repositoryName, gitRef, after, deleted);
    }

    /// <summary>At a value: its numeric <c>id</c> (and string <c>full_name</c>) when it is an object; reads past it either way.</summary>
    static long? ReadObject(ref Utf8JsonReader reader, out string? fullName)
    {
        fullName = null;
        if (reader.TokenType != JsonTokenType.StartObject) return SkipValue<long?>(ref reader);
        long? id = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                id = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) ? value : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("full_name"u8))
            {
                reader.Read();
                fullName = reader.TokenType == JsonTokenType.String ? reader.GetString() : SkipValue(ref reader);
            }
            else { reader.Read(); reader.Skip(); }
        }
        return id;
    }

    static string? SkipValue(ref Utf8JsonReader reader) => SkipValue<string?>(ref reader);

    static T? SkipValue<T>(ref Utf8JsonReader reader)
    {
        reader.Skip();
        return default;
    }

    /// <summary>Nothing but whitespace may follow the root value, as <see cref="JsonDocument"/> requires: the reader throws otherwise.</summary>
    static void EnsureEnd(ref Utf8JsonReader reader)
    {
        if (reader.Read()) throw new JsonException("Something follows the end of the JSON value.");
    }
}

/// <summary>The services the webhook receiver uses, bound with <c>[AsParameters]</c>.</summary>
public sealed record WebhookReceiverServices(
    IGitHubAppCredentialSource Credentials,
    DeliveryIngest Ingest,
    WebhookBodyGate Gate,
    ILoggerFactory Loggers);
