using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace SelfTune.Admin.Tests.Fakes;

/// <summary>One attempt GitHub made to hand a webhook to the App's webhook URL, as <c>GET /app/hook/deliveries</c> lists it.</summary>
/// <param name="StatusCode">The app's answer; 0 when there was none (connection refused, timed out).</param>
public sealed record FakeHookDelivery(
    long Id, string Guid, DateTimeOffset DeliveredAt, bool Redelivery, double Duration, string Status, int StatusCode,
    string Event, string? Action, long? InstallationId, long? RepositoryId, string Payload)
{
    public bool Succeeded => StatusCode is >= 200 and <= 299;
}

// The App's webhook deliveries: GitHub sends each webhook to WebhookUrl once, records the attempt, lists the attempts to the
// App (newest first, cursor-paged) and sends one again when asked (a new attempt with the same GUID, body and headers).
public sealed partial class FakeGitHub
{
    private readonly List<FakeHookDelivery> _hookDeliveries = new();
    private readonly List<(Func<FakeHookDelivery, bool> Match, TaskCompletionSource<FakeHookDelivery> Done)> _hookWaiters = new();
    private long _nextHookDeliveryId = 90_000_000_001;
    private Uri? _webhookUrl;
    private int? _refuseRedeliveriesWith;

    /// <summary>HookShot gives up on an answer after 10 s.</summary>
    private static readonly HttpClient HookShot = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>The App's webhook URL (its settings on GitHub): where <see cref="SendHookAsync"/> and redeliveries go.</summary>
    public Uri? WebhookUrl { get { lock (_gate) return _webhookUrl; } set { lock (_gate) _webhookUrl = value; } }

    /// <summary>Non-null: <c>POST /app/hook/deliveries/{id}/attempts</c> answers this status (e.g. 422) and sends nothing.</summary>
    public int? RefuseRedeliveriesWith { get { lock (_gate) return _refuseRedeliveriesWith; } set { lock (_gate) _refuseRedeliveriesWith = value; } }

    /// <summary>Every attempt so far, oldest first.</summary>
    public IReadOnlyList<FakeHookDelivery> HookDeliveries { get { lock (_gate) return _hookDeliveries.ToArray(); } }

    /// <summary>
    /// GitHub hands a webhook to <see cref="WebhookUrl"/> (signed, with a new GUID unless given) and records the attempt with
    /// the app's status code, or 0 and GitHub's words when no answer came (the app is down: connection refused).
    /// </summary>
    public Task<FakeHookDelivery> SendHookAsync(string eventName, string payloadJson, string? guid = null) =>
        DeliverAsync(guid ?? Guid.NewGuid().ToString(), eventName, payloadJson, redelivery: false);

    /// <summary>Completes with the first attempt (recorded before or after the call) that <paramref name="match"/> accepts.</summary>
    public Task<FakeHookDelivery> WaitForHookDeliveryAsync(Func<FakeHookDelivery, bool> match, TimeSpan? timeout = null)
    {
        var done = new TaskCompletionSource<FakeHookDelivery>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_hookDeliveries.FirstOrDefault(match) is { } seen) return Task.FromResult(seen);
            _hookWaiters.Add((match, done));
        }
        return done.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    private async Task<FakeHookDelivery> DeliverAsync(string guid, string eventName, string payloadJson, bool redelivery)
    {
        var target = WebhookUrl ?? throw new InvalidOperationException("Set WebhookUrl (the App's webhook URL) first.");
        var fields = JsonNode.Parse(payloadJson) as JsonObject;
        var started = DateTimeOffset.UtcNow;
        int statusCode;
        string status;
        try
        {
            using var request = CreateWebhookRequest(target, eventName, payloadJson, guid);
            using var response = await HookShot.SendAsync(request, _shutdown.Token);
            statusCode = (int)response.StatusCode;
            status = response.ReasonPhrase ?? statusCode.ToString(CultureInfo.InvariantCulture);
        }
        catch (HttpRequestException e)
        {
            (statusCode, status) = (0, e.HttpRequestError == HttpRequestError.ConnectionError ? "failed to connect to host" : "Invalid HTTP Response: " + e.Message);
        }
        catch (TaskCanceledException) when (!_shutdown.IsCancellationRequested)
        {
            (statusCode, status) = (0, "timed out");
        }
        List<TaskCompletionSource<FakeHookDelivery>> wake = [];
        FakeHookDelivery attempt;
        lock (_gate)
        {
            attempt = new FakeHookDelivery(_nextHookDeliveryId++, guid, started.Truncate(), redelivery,
                Math.Round((DateTimeOffset.UtcNow - started).TotalSeconds, 2), status, statusCode, eventName,
                fields?["action"]?.GetValue<string>(), fields?["installation"]?["id"]?.GetValue<long>(), fields?["repository"]?["id"]?.GetValue<long>(), payloadJson);
            _hookDeliveries.Add(attempt);
            foreach (var w in _hookWaiters.Where(w => w.Match(attempt)).ToList())
            {
                _hookWaiters.Remove(w);
                wake.Add(w.Done);
            }
        }
        foreach (var done in wake) done.TrySetResult(attempt);
        return attempt;
    }

    /// <summary>/app/hook/deliveries[/{id}[/attempts]] (App JWT).</summary>
    private async Task HookDeliveriesAsync(HttpContext ctx, string[] rest)
    {
        if (!await RequireAppJwtAsync(ctx)) return;
        switch (rest)
        {
            case [] when HttpMethods.IsGet(ctx.Request.Method):
                await ListHookDeliveriesAsync(ctx);
                return;
            case [var id, "attempts"] when HttpMethods.IsPost(ctx.Request.Method):
                await RedeliverAsync(ctx, id);
                return;
            default:
                await UnroutedAsync(ctx);
                return;
        }
    }

    /// <summary>Newest first; <c>per_page</c> (default 30, max 100) and GitHub's opaque <c>cursor</c>, with a Link rel="next".</summary>
    private async Task ListHookDeliveriesAsync(HttpContext ctx)
    {
        var q = ctx.Request.Query;
        var perPage = int.TryParse(q["per_page"], out var pp) && pp > 0 ? Math.Min(pp, 100) : 30;
        long? before = q["cursor"].ToString() is { Length: > 3 } c && c.StartsWith("v1_", StringComparison.Ordinal)
                       && long.TryParse(c[3..], NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? b : null;
        FakeHookDelivery[] page;
        bool more;
        lock (_gate)
        {
            var newestFirst = _hookDeliveries.OrderByDescending(d => d.Id).Where(d => before is null || d.Id < before).ToList();
            page = newestFirst.Take(perPage).ToArray();
            more = newestFirst.Count > perPage;
        }
        if (more)
            ctx.Response.Headers["Link"] =
                $"<{BaseUrl.GetLeftPart(UriPartial.Authority)}{ctx.Request.Path}?per_page={perPage}&cursor=v1_{page[^1].Id}>; rel=\"next\"";
        await WriteJsonAsync(ctx, 200, new JsonArray(page.Select(d => (JsonNode?)HookDeliveryJson(d)).ToArray()));
    }

    private async Task RedeliverAsync(HttpContext ctx, string id)
    {
        FakeHookDelivery? original;
        int? refuse;
        lock (_gate)
        {
            original = long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? _hookDeliveries.FirstOrDefault(d => d.Id == n) : null;
            refuse = _refuseRedeliveriesWith;
        }
        if (original is null)
        {
            await NotFoundAsync(ctx);
            return;
        }
        if (refuse is { } status)
        {
            await WriteJsonAsync(ctx, status, Error("Validation Failed", "https://docs.github.com/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook", status));
            return;
        }
        // As GitHub: accepted now, handed over after the answer.
        _ = Task.Run(async () =>
        {
            try { await DeliverAsync(original.Guid, original.Event, original.Payload, redelivery: true); }
            catch (OperationCanceledException) { } // the fake is shutting down
        });
        await WriteJsonAsync(ctx, 202, new JsonObject());
    }

    private static JsonObject HookDeliveryJson(FakeHookDelivery d) => new()
    {
        ["id"] = d.Id,
        ["guid"] = d.Guid,
        ["delivered_at"] = Ts(d.DeliveredAt),
        ["redelivery"] = d.Redelivery,
        ["duration"] = d.Duration,
        ["status"] = d.Status,
        ["status_code"] = d.StatusCode,
        ["event"] = d.Event,
        ["action"] = d.Action,
        ["installation_id"] = d.InstallationId,
        ["repository_id"] = d.RepositoryId,
        ["throttled_at"] = null,
    };
}
