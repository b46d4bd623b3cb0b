namespace SelfTune.Admin.Registry;

// Wire shapes of the registry API (snake_case by the app's JSON policy).

public sealed record CreateEntryRequest(string? Name, string? Description, string? Visibility, string? SourceRepo);

/// <summary>The <c>metadata</c> part of a version push; on entry creation it may also carry the entry fields.</summary>
public sealed record PushMetadata(
    string? Version, string? ChangeSummary, string? ContentHash,
    string? Name = null, string? Description = null, string? Visibility = null, string? SourceRepo = null);

public sealed record EntryResponse(
    Guid Id, Guid OrgId, string Name, string Description, Visibility Visibility, string? SourceRepo,
    string? LatestVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static EntryResponse From(RegistryEntry e) =>
        new(e.Id, e.OrgId, e.Name, e.Description, e.Visibility, e.SourceRepo, e.LatestVersion, e.CreatedAt, e.UpdatedAt);
}

/// <summary>A page of <c>GET /api/v1/registry</c> (and the public list): the seed's wrapper with the next page's cursor.</summary>
public sealed record EntryList(IReadOnlyList<EntryResponse> Entries, string? NextCursor);

/// <summary>A page of <c>GET /api/v1/registry/{id}/versions</c>, newest first.</summary>
public sealed record VersionList(IReadOnlyList<VersionResponse> Versions, string? NextCursor);

public sealed record EntryCreatedResponse(
    Guid Id, Guid OrgId, string Name, string Description, Visibility Visibility, string? SourceRepo,
    string? LatestVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, VersionResponse? Version);

public sealed record VersionResponse(
    Guid Id, Guid EntryId, string Version, string? ChangeSummary,
    VersionSource Source, string? SourceRef, string? SourceRepo,
    string ContentHash, long Size, int FileCount, DateTimeOffset PublishedAt, Guid CreatedBy,
    IReadOnlyList<PackagedFile>? FileManifest)
{
    static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web);

    public static VersionResponse From(SkillVersion v, bool withManifest) =>
        new(v.Id, v.EntryId, v.Version, v.ChangeSummary, v.Source, v.SourceRef, v.SourceRepo, v.ContentHash, v.Size,
            v.FileCount, v.PublishedAt, v.CreatedBy, withManifest ? ParseManifest(v.FileManifest) : null);

    public static string SerializeManifest(IReadOnlyList<PackagedFile> files) => JsonSerializer.Serialize(files, ManifestJson);

    public static IReadOnlyList<PackagedFile> ParseManifest(string json) =>
        JsonSerializer.Deserialize<List<PackagedFile>>(json, ManifestJson) ?? [];
}
