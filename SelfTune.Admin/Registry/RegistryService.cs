namespace SelfTune.Admin.Registry;

public sealed record VersionProvenance(VersionSource Source, string? SourceRef, string? SourceRepo);

public sealed record PublishResult(SkillVersion Version, bool Created);

/// <summary>A version as the rule for <c>latest</c> (<see cref="RegistryService.ChooseLatest"/>) sees it.</summary>
public sealed record LatestCandidate(Guid Id, string Version, DateTimeOffset PublishedAt, bool Yanked);

/// <summary>
/// Registry entries and their immutable versions. Every publish path (CLI push, GitHub connection, direct import)
/// goes through <see cref="PublishAsync"/>, which is the one place that decides created / unchanged / conflict, and
/// keeps the Agent Skills warnings with the version. <see cref="ChooseLatest"/> is the one rule for <c>latest</c>
/// (publishing here, yanking in <see cref="WithdrawalService"/>).
/// </summary>
public sealed class RegistryService(AdminDbContext db, TimeProvider clock, IChangeFeed changes)
{
    public const int MaxDescriptionLength = 2000;
    public const int MaxChangeSummaryLength = 2000;

    public async Task<RegistryEntry> CreateEntryAsync(Guid orgId, Guid actorId, CreateEntryRequest request, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (!Validation.IsEntryName(request.Name))
            errors["name"] = ["name is required: 1-128 characters, lower-case letters, digits, '.', '_' or '-', starting with a letter or digit."];
        if (request.Description is { Length: > MaxDescriptionLength })
            errors["description"] = [$"description must be at most {MaxDescriptionLength} characters."];
        var visibility = Visibility.Org;
        if (request.Visibility is not null && !TryParseVisibility(request.Visibility, out visibility))
            errors["visibility"] = ["visibility must be one of: public, org, unlisted."];
        if (request.SourceRepo is not null && !Validation.IsRepoFullName(request.SourceRepo))
            errors["source_repo"] = ["source_repo must be 'owner/repo'."];
        if (errors.Count > 0) throw new ProblemException(400, "invalid_request", errors.Values.First()[0], errors);

        if (await db.Entries.AnyAsync(e => e.OrgId == orgId && e.Name == request.Name, ct))
            throw ProblemException.Conflict($"An entry named '{request.Name}' already exists in this org.");

        var now = clock.GetUtcNow();
        var entry = new RegistryEntry
        {
            OrgId = orgId, Name = request.Name!, Description = request.Description ?? "", Visibility = visibility,
            SourceRepo = request.SourceRepo, CreatedBy = actorId, CreatedAt = now, UpdatedAt = now,
        };
        db.Entries.Add(entry);
        try { await db.SaveChangesAsync(ct); }
        catch (DbUpdateException e) when (e.IsUniqueViolation())
        {
            throw ProblemException.Conflict($"An entry named '{request.Name}' already exists in this org.");
        }
        return entry;
    }

    /// <summary>Validates a pushed version string by the registry's rule (<see cref="RegistryVersion"/>).</summary>
    /// <summary>
    /// The org's entry <paramref name="entryId"/>, tracked; scoped by org, so another org's entry is "not found" exactly
    /// like a missing one (the API's wording).
    /// </summary>
    public static async Task<RegistryEntry> FindEntryAsync(AdminDbContext db, Guid orgId, Guid entryId, CancellationToken ct) =>
        await db.Entries.SingleOrDefaultAsync(e => e.Id == entryId && e.OrgId == orgId, ct)
        ?? throw EntryNotFound(entryId.ToString());

    /// <summary>404 for an entry id that is not the org's (or not an id at all).</summary>
    public static ProblemException EntryNotFound(string id) => ProblemException.NotFound($"No registry entry with id '{id}'.");

    public static string ValidateVersion(string? version)
    {
        if (string.IsNullOrWhiteSpace(version))
            throw ProblemException.Invalid("version", "version is required (a SemVer 2.0 version such as 1.0.0).");
        if (!RegistryVersion.TryParse(version, out _))
            throw ProblemException.Invalid("version", $"'{Truncate(version)}' is not a SemVer 2.0 version (such as 1.0.0 or 1.0.0-beta.1) of at most {RegistryVersion.MaxLength} characters.");
        return version;
    }

    /// <summary>
    /// Stores <paramref name="archive"/> and records the version, unless the version already exists: with the same
    /// content hash that is <c>Created = false</c>; with another hash a 409, and the stored version stays as it was.
    /// </summary>
    /// <param name="readAsAbsent">The caller has just read that the version does not exist (a GitHub publish chooses its
    /// version so): it is not read again. A version stored since is still found, by the unique index, and decided as here.</param>
    public async Task<PublishResult> PublishAsync(
        RegistryEntry entry, string version, string? changeSummary, StagedArchive archive, SkillPackage package,
        VersionProvenance provenance, Guid actorId, CancellationToken ct, bool readAsAbsent = false)
    {
        var existing = readAsAbsent ? null : await FindVersionAsync(entry.Id, version, ct);
        if (existing is not null) return Existing(existing, provenance.Source, archive, package);

        // The archive first: a row must never point at an archive that is not there. It is content-addressed,
        // so committing it for a version that then loses a race is harmless.
        await archive.CommitAsync(ct);
        var row = new SkillVersion
        {
            OrgId = entry.OrgId, EntryId = entry.Id, Version = version, ChangeSummary = changeSummary,
            Source = provenance.Source, SourceRef = provenance.SourceRef, SourceRepo = provenance.SourceRepo,
            ContentHash = archive.Hash, Size = archive.Size, FileCount = package.Files.Count,
            FileManifest = VersionResponse.SerializeManifest(package.Files),
            SkillName = package.Skill.Name, SkillDescription = package.Skill.Description, SkillMarkdown = package.SkillMarkdown,
            CreatedBy = actorId, PublishedAt = clock.GetUtcNow(),
            Warnings = VersionResponse.SerializeWarnings(package.WarningsFor(entry.Name)),
        };
        db.Versions.Add(row);
        var tracked = db.Entry(entry).State != EntityState.Detached ? entry : await db.Entries.SingleAsync(e => e.Id == entry.Id, ct);
        // Latest is chosen and stored in one transaction that first writes the entry's row: a concurrent publish to the
        // same entry waits there (PostgreSQL's row lock; SQLite's one writer) until this one commits, then chooses from
        // what it stored. Chosen before that, two publishes of 1.4.0 and 1.5.0 at once could leave 1.4.0 latest.
        // Within a caller's transaction, a savepoint: a lost race undoes this publish's writes (the count) and no more.
        var outer = db.Database.CurrentTransaction;
        await using var transaction = outer is null ? await db.Database.BeginTransactionAsync(ct) : null;
        if (outer is not null) await outer.CreateSavepointAsync(nameof(PublishAsync), ct);
        try
        {
            // The count is kept here, under that lock, as an increment of the stored one (the tracked entry's copy may be older).
            await db.Entries.Where(e => e.Id == entry.Id).ExecuteUpdateAsync(s => s
                .SetProperty(e => e.UpdatedAt, row.PublishedAt).SetProperty(e => e.VersionCount, e => e.VersionCount + 1), ct);
            tracked.LatestVersion = await ChooseLatestAsync(tracked, row, ct);
            tracked.UpdatedAt = row.PublishedAt;
            await db.SaveChangesAsync(ct);
            if (transaction is not null) await transaction.CommitAsync(ct);
            changes.Publish(Change.OfEntry(tracked)); // after the commit: a page that re-reads on hearing it sees the version
            return new PublishResult(row, Created: true);
        }
        catch (DbUpdateException e) when (e.IsUniqueViolation())
        {
            // Another publisher wrote this version between our read and our insert.
            if (transaction is not null) await transaction.RollbackAsync(CancellationToken.None);
            else await outer!.RollbackToSavepointAsync(nameof(PublishAsync), CancellationToken.None);
            // Undo this publish's own changes in the context, and no more: what the caller tracks (a GitHub publish's attempt,
            // whose outcome it saves next) must stay tracked. Cleared whole, the attempt's outcome was never saved.
            db.Entry(row).State = EntityState.Detached;
            await db.Entry(tracked).ReloadAsync(ct);
            var winner = await FindVersionAsync(entry.Id, version, ct) ?? throw new InvalidOperationException("Unique violation without a row.", e);
            return Existing(winner, provenance.Source, archive, package);
        }
    }

    static PublishResult Existing(SkillVersion existing, VersionSource source, StagedArchive archive, SkillPackage package) =>
        HoldsSameContent(existing, source, archive.Hash, package.Files)
            ? new PublishResult(existing, Created: false)
            : throw ProblemException.Conflict($"version {existing.Version} already exists with different content; versions are immutable, publish a new version instead.");

    /// <summary>
    /// Whether <paramref name="stored"/> holds the content about to be published from <paramref name="source"/> as an
    /// archive with <paramref name="hash"/> of <paramref name="files"/>: the same archive, or, when the server built both
    /// archives from a repository's files (a CLI push stores the client's own bytes, which are then its content), the
    /// same files: paths, sizes and SHA-256s. The same files can gzip to other bytes (the runtime's zlib changed its
    /// output between .NET 8 and 9; the repack's compression level changed on 2026-12-01), and a re-publish of a released
    /// tag must stay <c>unchanged</c> then, not become a conflict. The registry's publish and the version a GitHub publish
    /// chooses (<c>AttemptBuilder.ChooseVersionAsync</c>) both decide by it.
    /// </summary>
    public static bool HoldsSameContent(SkillVersion stored, VersionSource source, string hash, IReadOnlyList<PackagedFile> files) =>
        stored.ContentHash == hash
        || (stored.Source != VersionSource.Cli && source != VersionSource.Cli
            && VersionResponse.ParseManifest(stored.FileManifest).SequenceEqual(files));

    Task<SkillVersion?> FindVersionAsync(Guid entryId, string version, CancellationToken ct) =>
        db.Versions.AsNoTracking().SingleOrDefaultAsync(v => v.EntryId == entryId && v.Version == version, ct);

    /// <summary>
    /// The entry's latest after publishing <paramref name="published"/>: <see cref="ChooseLatest"/> over the latest as
    /// stored now (its version row, read again here: the caller's copy of the entry may be older than a concurrent
    /// publish) and the new version. That is the rule over every version, since the stored latest is the rule's choice
    /// among the others (every publish, yank and un-yank keeps it so) and the new version is the newest; without
    /// reading the entry's whole history on each publish (a connection publishes a prerelease on every push to the
    /// default branch, so an active entry has thousands of versions; at 400 a publish spent 3.5 ms more reading them).
    /// </summary>
    async Task<string?> ChooseLatestAsync(RegistryEntry entry, SkillVersion published, CancellationToken ct)
    {
        var current = await db.Entries.Where(e => e.Id == entry.Id)
            .SelectMany(e => db.Versions.Where(v => v.EntryId == e.Id && v.Version == e.LatestVersion))
            .Select(v => new LatestCandidate(v.Id, v.Version, v.PublishedAt, v.YankedAt != null))
            .SingleOrDefaultAsync(ct);
        var candidate = new LatestCandidate(published.Id, published.Version, published.PublishedAt, Yanked: false);
        return ChooseLatest(current is null ? [candidate] : [current, candidate]);
    }

    /// <summary>Every version of the entry as <see cref="ChooseLatest"/> sees it, as stored.</summary>
    public static Task<List<LatestCandidate>> LatestCandidatesAsync(AdminDbContext db, Guid entryId, CancellationToken ct) =>
        db.Versions.AsNoTracking().Where(v => v.EntryId == entryId)
            .Select(v => new LatestCandidate(v.Id, v.Version, v.PublishedAt, v.YankedAt != null)).ToListAsync(ct);

    /// <summary>
    /// The registry's one rule for an entry's <c>latest</c>, applied whenever a version is published, yanked or un-yanked:
    /// the highest release by SemVer precedence that is not yanked; while there is none, the newest prerelease that is
    /// not yanked (by publish time, the later in <paramref name="versions"/> among equal times); null when every version
    /// is yanked. So a yanked version is never latest, whatever is published after it, and publishing a lower version
    /// while the highest is yanked makes it latest only when it is the highest release not yanked (1.5.0 over 1.0.0,
    /// not 0.9.0). A row that is not a version by today's rule (none should be) cannot be the latest.
    /// </summary>
    public static string? ChooseLatest(IReadOnlyList<LatestCandidate> versions)
    {
        var live = versions.Select((v, order) => (v, order, parsed: RegistryVersion.TryParse(v.Version, out var p) ? p : null))
            .Where(x => !x.v.Yanked && x.parsed is not null).ToList();
        var releases = live.Select(x => x.parsed!).Where(v => !v.IsPrerelease).ToList();
        if (releases.Count > 0) return releases.Max()!.Text;
        return live.Count == 0 ? null : live.OrderBy(x => x.v.PublishedAt).ThenBy(x => x.order).Last().v.Version;
    }

    public static bool TryParseVisibility(string value, out Visibility visibility)
    {
        visibility = value switch { "public" => Visibility.Public, "org" => Visibility.Org, "unlisted" => Visibility.Unlisted, _ => (Visibility)(-1) };
        return Enum.IsDefined(visibility);
    }

    static string Truncate(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
