using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace SelfTune.Admin.Apis;

/// <summary>
/// The org's audit log for its admin automation (<c>GET /api/v1/audit</c>): a key with <c>registry:push</c>, which acts
/// as an admin (<see cref="Actor.From"/>); a read-only key gets 403. Read only: entries are never edited or deleted, so
/// there is no endpoint that would.
/// </summary>
public static class AuditApi
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/audit", ListEntries).WithTags("Audit").RequireApiKey(SelfTuneClaims.RegistryPush)
            .WithSummary("The org's audit log, newest first; filters: action (an area like connection, or connection.delete), actor (id or name), "
                         + "actor_kind, target_type, since, until (ISO 8601); paged with ?limit= and ?cursor=.");
        return app;
    }

    static async Task<Ok<AuditEntryList>> ListEntries(ClaimsPrincipal user, AuditQueries queries, string? action, string? actor, string? actor_kind,
        string? target_type, string? since, string? until, string? limit, string? cursor, CancellationToken ct)
    {
        var page = PageRequest.Parse(limit, cursor, AuditQueries.List);
        var kind = actor_kind switch
        {
            null or "" => (AuditActorKind?)null,
            "member" => AuditActorKind.Member,
            "api_key" => AuditActorKind.ApiKey,
            "operator" => AuditActorKind.Operator,
            "system" => AuditActorKind.System,
            _ => throw ProblemException.Invalid("actor_kind", "actor_kind must be one of: member, api_key, operator, system."),
        };
        var filter = new AuditFilter(action, actor, kind, target_type, Time(since, "since"), Time(until, "until"));
        var entries = await queries.ListAsync(user.GetOrgId(), filter, page, ct);
        return TypedResults.Ok(new AuditEntryList(entries.Items.Select(AuditEntryResponse.From).ToList(), entries.NextCursor));
    }

    static DateTimeOffset? Time(string? value, string name) =>
        string.IsNullOrEmpty(value) ? null
        : DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at.ToUniversalTime()
        : throw ProblemException.Invalid(name, $"{name} must be an ISO 8601 time, e.g. 2026-11-29T21:00:00Z.");
}

/// <summary>One audit entry as the API shows it; <c>actor_id</c> is null for the system.</summary>
public sealed record AuditEntryResponse(
    Guid Id, DateTimeOffset At, AuditActorKind ActorKind, Guid? ActorId, string ActorName, string Action,
    string TargetType, string? TargetId, string TargetName, string Summary)
{
    public static AuditEntryResponse From(AuditEntry e) =>
        new(e.Id, e.At, e.ActorKind, e.ActorId, e.ActorName, e.Action, e.TargetType, e.TargetId, e.TargetName, e.Summary);
}

public sealed record AuditEntryList(IReadOnlyList<AuditEntryResponse> Entries, string? NextCursor);
