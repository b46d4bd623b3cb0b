namespace SelfTune.Admin.Audit;

/// <summary>Who made a change recorded in the audit log.</summary>
public enum AuditActorKind { Member, ApiKey, Operator, System }

/// <summary>
/// One change an admin, a key, an operator or the system made to an org: never edited or deleted (the context refuses
/// it, see <see cref="AuditLog"/>), kept when the actor or target is gone (names are copied at the time of the change).
/// </summary>
public sealed class AuditEntry
{
    /// <summary>Time-ordered (<see cref="Data.WebhookDelivery.Id"/> says why).</summary>
    public Guid Id { get; set; } = Guid.CreateVersion7();
    public Guid OrgId { get; set; }
    public DateTimeOffset At { get; set; }
    public AuditActorKind ActorKind { get; set; }
    /// <summary>The member or API key id; null for the system.</summary>
    public Guid? ActorId { get; set; }
    public required string ActorName { get; set; }
    /// <summary>What happened, "area.verb": connection.create, api_key.revoke, member.role_change, org.plan_change, version.yank...</summary>
    public required string Action { get; set; }
    /// <summary>What it happened to: connection, api_key, member, invitation, installation, org, delivery, app, entry, version...</summary>
    public required string TargetType { get; set; }
    public string? TargetId { get; set; }
    public string TargetName { get; set; } = "";
    /// <summary>A one-line human summary of before → after, e.g. "role: member → admin".</summary>
    public string Summary { get; set; } = "";
}
