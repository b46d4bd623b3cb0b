namespace SelfTune.Admin.Registry;

// Wire shapes of the registry API (snake_case by the app's JSON policy).

public sealed record CreateEntryRequest(string? Name, string? Description, string? Visibility, string? SourceRepo);

/// <summary>The <c>metadata</c> part of a version push; on entry creation it may also carry the entry fields.</summary>
public sealed record PushMetadata(
    string? Version, string? ChangeSummary, string? ContentHash,
    string? Name = null, string? Description = null, string? Visibility = null, string? SourceRepo = null);

/// <summary><c>{"reason": "..."}</c> of <c>POST .../versions/{version}/yank</c>.</summary>
public sealed record YankRequest(string? Reason);

/// <summary><c>{"message": "..."}</c> of <c>POST /api/v1/registry/{id}/deprecate</c>.</summary>
public sealed record DeprecateRequest(string? Message);

public sealed record EntryResponse(
    Guid Id, Guid OrgId, string Name, string Description, Visibility Visibility, string? SourceRepo,
    string? LatestVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    bool Deprecated, DateTimeOffset? DeprecatedAt, string? DeprecationMessage)
{
    public static EntryResponse From(RegistryEntry e) =>
        new(e.Id, e.OrgId, e.Name, e.Description, e.Visibility, e.SourceRepo, e.LatestVersion, e.CreatedAt, e.UpdatedAt,
            e.DeprecatedAt is not null, e.DeprecatedAt, e.DeprecationMessage);
}

/// <summary>A page of <c>GET /api/v1/registry</c> (and the public list): the seed's wrapper with the next page's cursor.</summary>
public sealed record EntryList(IReadOnlyList<EntryResponse> Entries, string? NextCursor);

/// <summary>A page of <c>GET /api/v1/registry/{id}/versions</c>, newest first.</summary>
public sealed record VersionList(IReadOnlyList<VersionResponse> Versions, string? NextCursor);

public sealed record EntryCreatedResponse(
    Guid Id, Guid OrgId, string Name, string Description, Visibility Visibility, string? SourceRepo,
    string? LatestVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    bool Deprecated, DateTimeOffset? DeprecatedAt, string? DeprecationMessage, VersionResponse? Version);

public sealed record VersionResponse(
    Guid Id, Guid EntryId, string Version, string? ChangeSummary,
    VersionSource Source, string? SourceRef, string? SourceRepo,
    string ContentHash, long Size, int FileCount, DateTimeOffset PublishedAt, Guid CreatedBy,
    bool Yanked, DateTimeOffset? YankedAt, string? YankedReason, IReadOnlyList<string> Warnings,
    IReadOnlyList<PackagedFile>? FileManifest)
{
    static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web);

    public static VersionResponse From(SkillVersion v, bool withManifest) =>
        new(v.Id, v.EntryId, v.Version, v.ChangeSummary, v.Source, v.SourceRef, v.SourceRepo, v.ContentHash, v.Size,
            v.FileCount, v.PublishedAt, v.CreatedBy, v.YankedAt is not null, v.YankedAt, v.YankedReason, ParseWarnings(v.Warnings),
            withManifest ? ParseManifest(v.FileManifest) : null);

    /// <summary>The warnings' sentences as the version keeps them (a JSON array of strings); null when there are none.</summary>
    public static string? SerializeWarnings(IReadOnlyList<PackagingWarning> warnings) =>
        warnings.Count == 0 ? null : JsonSerializer.Serialize(warnings.Select(w => w.Message), ManifestJson);

    public static IReadOnlyList<string> ParseWarnings(string? json) =>
        string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<List<string>>(json, ManifestJson) ?? [];

    public static string SerializeManifest(IReadOnlyList<PackagedFile> files) => JsonSerializer.Serialize(files, ManifestJson);

    public static IReadOnlyList<PackagedFile> ParseManifest(string json) =>
        JsonSerializer.Deserialize<List<PackagedFile>>(json, ManifestJson) ?? [];
}
