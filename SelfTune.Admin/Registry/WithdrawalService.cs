namespace SelfTune.Admin.Registry;

/// <summary>
/// Withdrawing without deleting (SPEC section 10): a version is <em>yanked</em> with a reason (it stays downloadable by
/// its exact version, so lockfiles keep working, and is never <c>latest</c>; un-yanking restores it, as Cargo does) and an
/// entry is deprecated with a message (it stays readable and installable, with the message shown). Owners and admins
/// only; an API key with <c>registry:push</c> acts as an admin (<see cref="Actor.From"/>), like an npm token that may
/// publish may also deprecate. Each change moves <c>latest</c> by the registry's one rule
/// (<see cref="RegistryService.ChooseLatest"/>) and commits with its audit entry in one SaveChanges. A context per call,
/// so a page's circuit and an API request can both hold this service.
/// </summary>
public sealed class WithdrawalService(IDbContextFactory<AdminDbContext> dbFactory, TimeProvider clock, IChangeFeed changes)
{
    public const int MaxReasonLength = 500;
    public const int MaxMessageLength = 500;

    /// <summary>Yanks the version, or re-words the reason of a yanked one; the same reason again changes nothing.</summary>
    public async Task<SkillVersion> YankAsync(Actor actor, Guid entryId, string version, string? reason, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Admin, "yank versions");
        var text = Required(reason, "reason", MaxReasonLength, "Say why the version is withdrawn");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var (entry, row) = await FindVersionAsync(db, actor.OrgId, entryId, version, ct);
        if (row.YankedAt is not null && row.YankedReason == text) return row;

        var now = clock.GetUtcNow();
        var summary = row.YankedAt is null ? $"reason: {text}" : AuditLog.Changed("reason", row.YankedReason, text);
        row.YankedAt ??= now;
        row.YankedReason = text;
        row.YankedBy = actor.Id;
        await SaveAsync(db, actor, entry, row, now, "version.yank", summary, ct);
        return row;
    }

    /// <summary>Un-yanks the version (it may become latest again); a version that is not yanked is left as it is.</summary>
    public async Task<SkillVersion> UnyankAsync(Actor actor, Guid entryId, string version, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Admin, "un-yank versions");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var (entry, row) = await FindVersionAsync(db, actor.OrgId, entryId, version, ct);
        if (row.YankedAt is null) return row;

        var summary = $"was yanked: {row.YankedReason}";
        row.YankedAt = null;
        row.YankedReason = null;
        row.YankedBy = null;
        await SaveAsync(db, actor, entry, row, clock.GetUtcNow(), "version.unyank", summary, ct);
        return row;
    }

    /// <summary>Deprecates the entry with <paramref name="message"/>, or re-words a deprecation; the same message again changes nothing.</summary>
    public async Task<RegistryEntry> DeprecateAsync(Actor actor, Guid entryId, string? message, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Admin, "deprecate entries");
        var text = Required(message, "message", MaxMessageLength, "Say why the skill is deprecated and what to use instead");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var entry = await RegistryService.FindEntryAsync(db, actor.OrgId, entryId, ct);
        if (entry.DeprecatedAt is not null && entry.DeprecationMessage == text) return entry;

        var now = clock.GetUtcNow();
        var summary = entry.DeprecatedAt is null ? $"message: {text}" : AuditLog.Changed("message", entry.DeprecationMessage, text);
        entry.DeprecatedAt ??= now;
        entry.DeprecationMessage = text;
        await SaveAsync(db, actor, entry, null, now, "entry.deprecate", summary, ct);
        return entry;
    }

    /// <summary>Removes the entry's deprecation; an entry that is not deprecated is left as it is.</summary>
    public async Task<RegistryEntry> UndeprecateAsync(Actor actor, Guid entryId, CancellationToken ct = default)
    {
        actor.Require(MemberRole.Admin, "remove deprecations");
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var entry = await RegistryService.FindEntryAsync(db, actor.OrgId, entryId, ct);
        if (entry.DeprecatedAt is null) return entry;

        var summary = $"was deprecated: {entry.DeprecationMessage}";
        entry.DeprecatedAt = null;
        entry.DeprecationMessage = null;
        await SaveAsync(db, actor, entry, null, clock.GetUtcNow(), "entry.undeprecate", summary, ct);
        return entry;
    }

    // A yank or un-yank (changed is the version) moves latest; the audit entry says so. Committed together, then announced
    // so the registry pages re-read the entry.
    async Task SaveAsync(AdminDbContext db, Actor actor, RegistryEntry entry, SkillVersion? changed, DateTimeOffset now,
        string action, string summary, CancellationToken ct)
    {
        if (changed is not null)
        {
            var versions = await RegistryService.LatestCandidatesAsync(db, entry.Id, ct);
            var latest = RegistryService.ChooseLatest(versions
                .Select(v => v.Id == changed.Id ? v with { Yanked = changed.YankedAt is not null } : v).ToList());
            if (latest != entry.LatestVersion) summary += "; " + AuditLog.Changed("latest", entry.LatestVersion, latest);
            entry.LatestVersion = latest;
            AuditLog.Record(db, actor, now, action, "version", changed.Id.ToString(), $"{entry.Name}@{changed.Version}", summary);
        }
        else
        {
            AuditLog.Record(db, actor, now, action, "entry", entry.Id.ToString(), entry.Name, summary);
        }
        entry.UpdatedAt = now;
        await db.SaveChangesAsync(ct);
        changes.Publish(Change.OfEntry(entry));
    }

    static string Required(string? value, string field, int max, string what)
    {
        var text = value?.Trim() ?? "";
        if (text.Length == 0 || text.Length > max) throw ProblemException.Invalid(field, $"{what}, in 1 to {max} characters.");
        return text;
    }

    static async Task<(RegistryEntry Entry, SkillVersion Version)> FindVersionAsync(AdminDbContext db, Guid orgId, Guid entryId, string version, CancellationToken ct)
    {
        var entry = await RegistryService.FindEntryAsync(db, orgId, entryId, ct);
        var row = await db.Versions.SingleOrDefaultAsync(v => v.EntryId == entry.Id && v.Version == version, ct)
            ?? throw ProblemException.NotFound($"Entry '{entry.Name}' has no version '{version}'.");
        return (entry, row);
    }
}
