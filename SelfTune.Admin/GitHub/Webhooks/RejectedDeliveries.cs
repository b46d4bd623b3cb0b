using System.Net;
using System.Threading.RateLimiting;

namespace SelfTune.Admin.GitHub.Webhooks;

/// <summary>
/// Deliveries refused for a missing, malformed or mismatched signature, made visible: each is stored as a
/// <see cref="WebhookDelivery"/> with <see cref="DeliveryOutcome.Rejected"/>, without its body (never read or not
/// trusted), so an operator can see that GitHub:WebhookSecret and the App's secret disagree instead of guessing why
/// nothing publishes.
/// </summary>
/// <remarks>
/// A rejected row can never be processed, replayed or stand in for a real delivery: it has no payload and no job, its
/// <see cref="WebhookDelivery.DeliveryId"/> is <c>rejected:{sent id}:{random}</c> (the unique index never refuses GitHub's
/// later, correctly signed delivery with the same GUID), and it carries no installation or repository, so no org lists
/// it (<see cref="DeliveryService.VisibleTo"/>); operators see the rows, admins and owners of every org see the count.
/// Recording is bounded so a flood cannot fill the table: at most <see cref="StoredPerAddressPerMinute"/> rows per
/// source address and <see cref="StoredPerMinute"/> in all (many addresses are cheap with IPv6); the rest are only
/// counted (telemetry's <c>rejected</c> outcome), and the body gate answers an address that keeps failing 429.
/// </remarks>
public sealed class RejectedDeliveries(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock)
{
    public const int StoredPerAddressPerMinute = 5;
    public const int StoredPerMinute = 60;
    public const string IdPrefix = "rejected:";

    /// <summary>Headers of a refused post are whatever the sender chose: at most this many characters are kept.</summary>
    public const int MaxHeaderChars = 64;

    public enum Reason { Missing, Malformed, Mismatch }

    /// <summary>What the banner says: how many were stored in the window, by reason, and the last one's time.</summary>
    public sealed record Summary(int Count, IReadOnlyDictionary<Reason, int> ByReason, DateTimeOffset? LastAt)
    {
        /// <summary>The reason most of them had (the banner names it).</summary>
        public Reason MostCommon => ByReason.OrderByDescending(r => r.Value).First().Key;
    }

    readonly AddressFailureLimiter perAddress = new(StoredPerAddressPerMinute, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(10));

    readonly FixedWindowRateLimiter overall = new(new FixedWindowRateLimiterOptions
    {
        PermitLimit = StoredPerMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = true,
    });

    /// <summary>The words a reason is shown with; the row's message starts with <c>{reason}:</c> so the summary can count by it.</summary>
    public static string Describe(Reason reason) => reason switch
    {
        Reason.Missing => "no signature (X-Hub-Signature-256 missing)",
        Reason.Malformed => "malformed signature (not sha256=<64 hex digits>)",
        _ => "signature mismatch",
    };

    static string KeyOf(Reason reason) => reason.ToString().ToLowerInvariant();

    /// <summary>Stores the refused delivery unless its address or everyone is over the bound; true when stored.</summary>
    public async Task<bool> RecordAsync(Reason reason, IPAddress? source, string? eventName, string? deliveryId, CancellationToken ct = default)
    {
        if (!perAddress.TryCount(source)) return false;
        using (var lease = overall.AttemptAcquire())
            if (!lease.IsAcquired) return false;

        var sentId = Bound(deliveryId);
        var from = source?.ToString() ?? "an unknown address";
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        db.Deliveries.Add(new WebhookDelivery
        {
            DeliveryId = $"{IdPrefix}{sentId ?? "none"}:{Guid.NewGuid():N}",
            Event = Bound(eventName) ?? "unknown",
            ReceivedAt = clock.GetUtcNow(),
            Outcome = DeliveryOutcome.Rejected,
            OutcomeMessage = $"{KeyOf(reason)}: {Describe(reason)}; from {from}, X-GitHub-Delivery {sentId ?? "missing"}.",
            Payload = "",
        });
        await db.SaveChangesAsync(ct);
        return true;
    }

    /// <summary>The rejected deliveries stored since <paramref name="since"/>.</summary>
    public async Task<Summary> SummaryAsync(DateTimeOffset since, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = db.Deliveries.Where(d => d.Outcome == DeliveryOutcome.Rejected && d.ReceivedAt >= since);
        var byReason = new Dictionary<Reason, int>();
        foreach (var reason in Enum.GetValues<Reason>())
        {
            var prefix = KeyOf(reason) + ":";
            var count = await rows.CountAsync(d => d.OutcomeMessage!.StartsWith(prefix), ct);
            if (count > 0) byReason[reason] = count;
        }
        var last = byReason.Count == 0 ? null : await rows.OrderByDescending(d => d.ReceivedAt).Select(d => (DateTimeOffset?)d.ReceivedAt).FirstOrDefaultAsync(ct);
        return new Summary(byReason.Values.Sum(), byReason, last);
    }

    /// <summary>A header as far as it is worth keeping: trimmed, printable ASCII only, at most <see cref="MaxHeaderChars"/>.</summary>
    static string? Bound(string? header)
    {
        if (string.IsNullOrWhiteSpace(header)) return null;
        var kept = new string(header.Trim().Where(c => c is > ' ' and < '\x7f').Take(MaxHeaderChars).ToArray());
        return kept.Length == 0 ? null : kept;
    }
}
