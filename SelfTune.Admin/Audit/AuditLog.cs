namespace SelfTune.Admin.Audit;

/// <summary>
/// Records changes in the audit log. <see cref="Record"/> adds the entry to the caller's context, so it commits in the
/// same SaveChanges as the change it describes: a change is never without its entry, nor an entry without its change
/// (a change made with ExecuteUpdate/ExecuteDelete runs in one transaction with the entry's save).
/// </summary>
/// <remarks>
/// Recorded: the settings, bindings, connections, syncs, replays, keys, members and plans admins, keys and operators
/// change, and withdrawals (<c>version.yank</c>, <c>version.unyank</c>, <c>entry.deprecate</c>, <c>entry.undeprecate</c>).
/// Not recorded: what the registry writes itself when a key or a webhook publishes (entries and versions).
/// A version is its own record, immutable, with its source, ref, <c>created_by</c> and time, so an entry here would only
/// repeat it, once per push of every CI run.
/// </remarks>
public static class AuditLog
{
    /// <summary>Adds an entry for <paramref name="actor"/>'s change to <paramref name="db"/>; the caller's SaveChanges writes both.</summary>
    /// <param name="action">"area.verb", e.g. <c>connection.delete</c>.</param>
    /// <param name="summary">Before → after in a line, e.g. <c>write-back: checks → statuses</c>.</param>
    public static AuditEntry Record(AdminDbContext db, Actor actor, DateTimeOffset at, string action, string targetType,
        string? targetId, string targetName, string summary = "")
    {
        var entry = new AuditEntry
        {
            OrgId = actor.OrgId,
            At = at,
            ActorKind = actor.Kind,
            ActorId = actor.Kind == AuditActorKind.System ? null : actor.Id,
            ActorName = actor.Name,
            Action = action,
            TargetType = targetType,
            TargetId = targetId,
            TargetName = targetName,
            Summary = summary,
        };
        db.AuditEntries.Add(entry);
        return entry;
    }

    /// <summary>"field: before → after", the summary of one changed setting.</summary>
    public static string Changed(string field, object? before, object? after) => $"{field}: {Show(before)} → {Show(after)}";

    static string Show(object? value) => value switch
    {
        null => "none",
        bool b => b ? "true" : "false", // as the API spells it
        Enum e => JsonNamingPolicy.SnakeCaseLower.ConvertName(e.ToString()), // as the API spells it: checks_and_prs
        _ => value.ToString() ?? "none",
    };

    /// <summary>Refuses to save an edited or deleted audit entry: the log is append-only.</summary>
    internal static void RefuseEdits(AdminDbContext db)
    {
        foreach (var entry in db.ChangeTracker.Entries<AuditEntry>())
            if (entry.State is EntityState.Modified or EntityState.Deleted)
                throw new InvalidOperationException("Audit entries are never edited or deleted.");
    }
}
