using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SelfTune.Admin.Apis;

/// <summary>
/// The org's webhook deliveries (<c>/api/v1/github/deliveries</c>), what the Deliveries page shows, with the GitHub API's
/// gate: a key with <c>registry:push</c> of an org on pro or higher. Org-scoped exactly as the page (<see cref="DeliveryService.VisibleTo"/>),
/// so a rejected delivery, which names no org, is never listed here. A replay follows the page's rules
/// (<see cref="DeliveryService.ReplayAsync"/>): admin or owner, replayable events only, and it is idempotent: what is
/// already published comes out <c>unchanged</c> in the replay's attempts. A delivery that GitHub failed to hand over and
/// redelivered when the app asked (<see cref="DeliveryRecoveryService"/>) answers <c>recovered: true</c> and <c>recovered_at</c>.
/// </summary>
public static class DeliveriesApi
{
    public static IEndpointRouteBuilder MapDeliveriesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/github/deliveries").WithTags("GitHub")
            .RequireApiKey(SelfTuneClaims.RegistryPush).RequirePlan(Plan.Pro);
        api.MapGet("", List).WithSummary("The org's webhook deliveries, newest first; ?event=, ?outcome=, ?repository= (owner/name); paged with ?limit= and ?cursor=.");
        api.MapGet("{id}", Get).WithSummary("One delivery with the attempts it created and its replays.");
        api.MapPost("{id}/replay", Replay).WithSummary("Replay a delivery as a new one (push, create, pull_request only); what is published comes out unchanged.");
        return app;
    }

    // limit binds as a number so that a non-number keeps binding's plain-words 400; the range is PageRequest's.
    static async Task<Ok<DeliveryList>> List(string? @event, string? outcome, string? repository, int? limit, string? cursor,
        ClaimsPrincipal user, DeliveryService deliveries, CancellationToken ct)
    {
        var request = PageRequest.Parse(limit?.ToString(CultureInfo.InvariantCulture), cursor, DeliveryService.DeliveriesList);
        var filter = new DeliveryService.Filter(Event: @event, Outcome: ParseOutcome(outcome), Repository: repository);
        var page = await deliveries.ListAsync(user.GetOrgId(), filter, request, ct);
        return TypedResults.Ok(new DeliveryList(page.Items.Select(DeliveryResponse.From).ToList(), page.NextCursor));
    }

    static async Task<Ok<DeliveryDetailResponse>> Get(string id, ClaimsPrincipal user, DeliveryService deliveries, CancellationToken ct)
    {
        var orgId = user.GetOrgId();
        var d = await deliveries.FindAsync(orgId, ParseId(id), ct: ct) ?? throw NotFound(id);
        var attempts = await deliveries.AttemptsOfAsync(orgId, d.DeliveryId, ct);
        var replays = await deliveries.ReplaysOfAsync(orgId, d.DeliveryId, ct);
        var one = DeliveryResponse.From(d);
        return TypedResults.Ok(new DeliveryDetailResponse(one.Id, one.DeliveryId, one.Event, one.Action, one.InstallationId, one.RepositoryFullName,
            one.ReceivedAt, one.Outcome, one.OutcomeMessage, one.ReplayOf, DeliveryService.CanReplay(d.Event),
            attempts.Select(a => AttemptResponse.From(a.Attempt)).ToList(), replays.Select(DeliveryResponse.From).ToList(), one.Recovered, one.RecoveredAt));
    }

    static async Task<Accepted<DeliveryResponse>> Replay(string id, ClaimsPrincipal user, DeliveryService deliveries, CancellationToken ct)
    {
        var replay = await deliveries.ReplayAsync(user, ParseId(id), ct);
        return TypedResults.Accepted($"/api/v1/github/deliveries/{replay.Id}", DeliveryResponse.From(replay));
    }

    static Guid ParseId(string id) => Guid.TryParse(id, out var rowId) ? rowId : throw NotFound(id);

    static ProblemException NotFound(string id) => ProblemException.NotFound($"No delivery with id '{id}' in your org.");

    static DeliveryOutcome? ParseOutcome(string? outcome)
    {
        if (string.IsNullOrEmpty(outcome)) return null;
        var all = Enum.GetValues<DeliveryOutcome>();
        return all.Cast<DeliveryOutcome?>().SingleOrDefault(o => JsonNamingPolicy.SnakeCaseLower.ConvertName(o!.Value.ToString()) == outcome)
               ?? throw ProblemException.Invalid("outcome", $"outcome must be one of: {string.Join(", ", all.Select(o => JsonNamingPolicy.SnakeCaseLower.ConvertName(o.ToString())))}.");
    }
}
