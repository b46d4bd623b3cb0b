using SelfTune.Admin.Audit;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Audit;

/// <summary>Audit entries written the way the services write them (<see cref="AuditLog.Record"/>), for the read side's tests.</summary>
public static class AuditSeed
{
    public static Task<AuditEntry> AuditEntryAsync(this AdminAppFactory app, Actor actor, DateTimeOffset at, string action, string targetType = "connection",
        string targetName = "acme/skills", string summary = "") =>
        app.WithDbAsync(async db =>
        {
            var entry = AuditLog.Record(db, actor, at, action, targetType, Guid.NewGuid().ToString(), targetName, summary);
            await db.SaveChangesAsync();
            return entry;
        });

    public static Actor Member(Guid orgId, string name) => new(orgId, Guid.NewGuid(), MemberRole.Admin) { Name = name, Kind = AuditActorKind.Member };
    public static Actor Key(Guid orgId, string name) => new(orgId, Guid.NewGuid(), MemberRole.Admin) { Name = name, Kind = AuditActorKind.ApiKey };
}
