using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.GitHub.Publishing;
using SelfTune.Admin.Infrastructure;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.Apis;

/// <summary>
/// The registry API (SPEC section 10). Reads of <c>public</c> and <c>unlisted</c> entries need no key; <c>org</c>
/// entries are visible only to a key of their org, and anyone else gets the same 404 as for a missing id.
/// </summary>
public static class RegistryApi
{
    public static IEndpointRouteBuilder MapRegistryApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/registry").WithTags("Registry");

        api.MapGet("", ListEntries).RequireApiKey(SelfTuneClaims.RegistryRead).Produces<EntryList>()
            .WithSummary("List the org's registry entries by name (optionally ?name= for one exact name); paged with ?limit= and ?cursor=.");
        api.MapPost("", CreateEntry).RequireApiKey(SelfTuneClaims.RegistryPush)
            .Accepts<CreateEntryRequest>("application/json", "multipart/form-data")
            .Produces<EntryCreatedResponse>(StatusCodes.Status201Created)
            .WithSummary("Create an entry; with multipart 'metadata' + 'archive' also push its first version.");
        api.MapGet("{id}", GetEntry).AllowOptionalApiKey().WithSummary("Get one entry.");
        api.MapGet("{id}/versions", ListVersions).AllowOptionalApiKey().Produces<VersionList>()
            .WithSummary("List an entry's versions, newest first; paged with ?limit= and ?cursor=.");
        api.MapGet("{id}/versions/{version}", GetVersion).AllowOptionalApiKey().WithSummary("Get one version with its file manifest.");
        api.MapGet("{id}/versions/{version}/archive", DownloadArchive).AllowOptionalApiKey()
            .Produces(StatusCodes.Status200OK, contentType: "application/gzip").WithSummary("Download a version's tar.gz.");
        api.MapPost("{id}/versions", PushVersion).RequireApiKey(SelfTuneClaims.RegistryPush)
            .Accepts<PushMetadata>("multipart/form-data")
            .Produces<VersionResponse>(StatusCodes.Status201Created)
            .Produces<VersionResponse>(StatusCodes.Status200OK)
            .WithSummary("Push a version (multipart 'metadata' JSON + 'archive' tar.gz); 200 when the same content already exists.");

        // The browser's download link: same archive, authorised by the sign-in cookie instead of an API key.
        app.MapGet("/downloads/registry/{id:guid}/{version}", async (Guid id, string version, ClaimsPrincipal user, AdminDbContext db, ArchiveStore store, CancellationToken ct) =>
        {
            var orgId = user.GetOrgId();
            var row = await db.Versions.AsNoTracking().Include(v => v.Entry)
                .SingleOrDefaultAsync(v => v.EntryId == id && v.OrgId == orgId && v.Version == version, ct);
            return row is null ? Results.NotFound() : await ArchiveAsync(store, row.Entry!.Name, row, ct);
        }).RequireAuthorization().ExcludeFromDescription();

        // A one-off import from GitHub needs a bound installation, so it is part of the (pro) GitHub integration.
        api.MapPost("{id}/versions/github", async (string id, DirectImportRequest? request, ClaimsPrincipal user, DirectImport import, CancellationToken ct) =>
            {
                if (request is null) throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
                var result = await import.ImportAsync(user.GetOrgId(), user.GetActorId(), id, request, ct);
                var body = VersionResponse.From(result.Version, withManifest: true);
                return result.Created
                    ? Results.Created($"/api/v1/registry/{result.Version.EntryId}/versions/{Uri.EscapeDataString(result.Version.Version)}", body)
                    : Results.Ok(body);
            })
            .RequireApiKey(SelfTuneClaims.RegistryPush).RequirePlan(Plan.Pro)
            .Produces<VersionResponse>(StatusCodes.Status201Created).Produces<VersionResponse>()
            .WithSummary("Import a repository ref through a bound GitHub installation (source github-direct).");

        app.MapGet("/api/v1/public/registry", ListPublic).WithTags("Registry").Produces<EntryList>()
            .WithSummary("List public entries of every org by name; no key needed; paged with ?limit= and ?cursor=.");
        return app;
    }

    static async Task<IResult> ListEntries(ClaimsPrincipal user, RegistryQueries queries, string? name, string? limit, string? cursor, CancellationToken ct)
    {
        var page = await queries.ListEntriesAsync(user.GetOrgId(), name, PageRequest.Parse(limit, cursor, RegistryQueries.EntriesList), ct);
        return TypedResults.Ok(new EntryList(page.Items.Select(EntryResponse.From).ToList(), page.NextCursor));
    }

    static async Task<IResult> ListPublic(RegistryQueries queries, string? name, string? limit, string? cursor, CancellationToken ct)
    {
        var page = await queries.ListEntriesAsync(orgId: null, name, PageRequest.Parse(limit, cursor, RegistryQueries.EntriesList), ct);
        return TypedResults.Ok(new EntryList(page.Items.Select(EntryResponse.From).ToList(), page.NextCursor));
    }

    static async Task<IResult> GetEntry(string id, ClaimsPrincipal user, AdminDbContext db, CancellationToken ct)
    {
        var entry = await FindReadableAsync(db, user, id, ct);
        return TypedResults.Ok(EntryResponse.From(entry));
    }

    static async Task<IResult> ListVersions(string id, ClaimsPrincipal user, AdminDbContext db, RegistryQueries queries,
        string? limit, string? cursor, CancellationToken ct)
    {
        var request = PageRequest.Parse(limit, cursor, RegistryQueries.VersionsList); // a bad page is a 400 before any lookup
        var entry = await FindReadableAsync(db, user, id, ct);
        var page = await queries.ListVersionsAsync(entry.Id, request, ct);
        return TypedResults.Ok(new VersionList(page.Items, page.NextCursor));
    }

    static async Task<IResult> GetVersion(string id, string version, ClaimsPrincipal user, AdminDbContext db, CancellationToken ct)
    {
        var (_, row) = await FindVersionAsync(db, user, id, version, ct);
        return TypedResults.Ok(VersionResponse.From(row, withManifest: true));
    }

    static async Task<IResult> DownloadArchive(string id, string version, ClaimsPrincipal user, AdminDbContext db, ArchiveStore store, CancellationToken ct)
    {
        var (entry, row) = await FindVersionAsync(db, user, id, version, ct);
        return await ArchiveAsync(store, entry.Name, row, ct);
    }

    /// <summary>
    /// A version's stored bytes, named <c>{entry}-{version}.tar.gz</c>; the ETag is the content hash. Streamed from the
    /// store, or a redirect to a short-lived signed address when the store is configured to give one.
    /// </summary>
    static async Task<IResult> ArchiveAsync(ArchiveStore store, string entryName, SkillVersion row, CancellationToken ct)
    {
        var fileName = $"{entryName}-{row.Version}.tar.gz";
        if (store.DirectDownloadUri(row.ContentHash, fileName) is { } direct) return TypedResults.Redirect(direct.AbsoluteUri);
        return TypedResults.Stream(await store.OpenReadAsync(row.ContentHash, ct), "application/gzip", fileName,
            entityTag: new EntityTagHeaderValue($"\"{row.ContentHash}\""));
    }

    static async Task<IResult> CreateEntry(HttpContext http, RegistryService registry, ArchiveStore store, IOptions<JsonOptions> json, CancellationToken ct)
    {
        var user = http.User;
        if (http.Request.HasJsonContentType())
        {
            var request = await http.Request.ReadFromJsonAsync<CreateEntryRequest>(json.Value.SerializerOptions, ct)
                ?? throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
            var entry = await registry.CreateEntryAsync(user.GetOrgId(), user.GetActorId(), request, ct);
            return TypedResults.Created($"/api/v1/registry/{entry.Id}", Created(entry, null));
        }

        var (metadata, archive) = await ReadPushAsync(http.Request, json.Value.SerializerOptions, ct);
        var version = RegistryService.ValidateVersion(metadata.Version);
        await using var staged = await StageAndValidateAsync(store, archive, metadata, ct);
        var created = await registry.CreateEntryAsync(user.GetOrgId(), user.GetActorId(),
            new CreateEntryRequest(metadata.Name, metadata.Description, metadata.Visibility, metadata.SourceRepo), ct);
        var result = await registry.PublishAsync(created, version, metadata.ChangeSummary, staged.Archive, staged.Package,
            new VersionProvenance(VersionSource.Cli, null, null), user.GetActorId(), ct);
        return TypedResults.Created($"/api/v1/registry/{created.Id}", Created(created, result.Version));
    }

    static async Task<IResult> PushVersion(string id, HttpContext http, AdminDbContext db, RegistryService registry, ArchiveStore store,
        IOptions<JsonOptions> json, CancellationToken ct)
    {
        var orgId = http.User.GetOrgId();
        var entry = (Guid.TryParse(id, out var entryId)
            ? await db.Entries.SingleOrDefaultAsync(e => e.Id == entryId && e.OrgId == orgId, ct)
            : null) ?? throw EntryNotFound(id);

        var (metadata, archive) = await ReadPushAsync(http.Request, json.Value.SerializerOptions, ct);
        var version = RegistryService.ValidateVersion(metadata.Version);
        await using var staged = await StageAndValidateAsync(store, archive, metadata, ct);
        var result = await registry.PublishAsync(entry, version, metadata.ChangeSummary, staged.Archive, staged.Package,
            new VersionProvenance(VersionSource.Cli, null, null), http.User.GetActorId(), ct);
        var body = VersionResponse.From(result.Version, withManifest: true);
        return result.Created
            ? TypedResults.Created($"/api/v1/registry/{entry.Id}/versions/{Uri.EscapeDataString(version)}", body)
            : TypedResults.Ok(body);
    }

    static EntryCreatedResponse Created(RegistryEntry e, SkillVersion? v) =>
        new(e.Id, e.OrgId, e.Name, e.Description, e.Visibility, e.SourceRepo, e.LatestVersion, e.CreatedAt, e.UpdatedAt,
            v is null ? null : VersionResponse.From(v, withManifest: true));

    static async Task<(PushMetadata Metadata, IFormFile Archive)> ReadPushAsync(HttpRequest request, JsonSerializerOptions json, CancellationToken ct)
    {
        if (!request.HasFormContentType)
            throw new ProblemException(415, "unsupported_media_type",
                "Send multipart/form-data with a 'metadata' part (JSON) and an 'archive' part (tar.gz).");
        IFormCollection form;
        try { form = await request.ReadFormAsync(ct); }
        catch (InvalidDataException e) { throw new ProblemException(400, "invalid_request", "The multipart body could not be read: " + e.Message); }
        // A body that ends before its closing boundary (or never matches it) surfaces as a plain IOException.
        // BadHttpRequestException is an IOException too, but carries its own status (e.g. 413) for the exception handler.
        catch (IOException e) when (e is not BadHttpRequestException)
        {
            throw new ProblemException(400, "invalid_request", "The multipart body could not be read: " + e.Message.Trim());
        }

        string? metadataText = form["metadata"];
        if (metadataText is null && form.Files["metadata"] is { } metadataFile)
        {
            using var reader = new StreamReader(metadataFile.OpenReadStream());
            metadataText = await reader.ReadToEndAsync(ct);
        }
        if (string.IsNullOrWhiteSpace(metadataText))
            throw ProblemException.Invalid("metadata", "The 'metadata' part is required: JSON such as {\"version\": \"1.0.0\"}.");
        PushMetadata? metadata;
        try { metadata = JsonSerializer.Deserialize<PushMetadata>(metadataText, json); }
        catch (JsonException e) { throw ProblemException.Invalid("metadata", "The 'metadata' part is not valid JSON: " + InputProblems.Describe(e) + "."); }
        if (metadata is null) throw ProblemException.Invalid("metadata", "The 'metadata' part must be a JSON object.");
        if (metadata.ChangeSummary is { Length: > RegistryService.MaxChangeSummaryLength })
            throw ProblemException.Invalid("change_summary", $"change_summary must be at most {RegistryService.MaxChangeSummaryLength} characters.");

        var archive = form.Files["archive"]
            ?? throw ProblemException.Invalid("archive", "The 'archive' part is required: a tar.gz of the skill folder with SKILL.md at its root.");
        return (metadata, archive);
    }

    sealed record ValidatedUpload(StagedArchive Archive, SkillPackage Package) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Archive.DisposeAsync();
    }

    static async Task<ValidatedUpload> StageAndValidateAsync(ArchiveStore store, IFormFile archive, PushMetadata metadata, CancellationToken ct)
    {
        await using var upload = archive.OpenReadStream();
        var staged = await store.StageAsync(upload, ct);
        try
        {
            if (metadata.ContentHash is { } claimed)
            {
                var normalized = claimed.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase) ? claimed[7..] : claimed;
                if (!string.Equals(normalized, staged.Hash, StringComparison.OrdinalIgnoreCase))
                    throw ProblemException.Invalid("content_hash",
                        $"content_hash does not match the archive: the archive's SHA-256 is {staged.Hash}.");
            }
            await using var read = staged.OpenRead();
            var package = await SkillArchive.ValidateAsync(read, PackagingLimits.Default, ct);
            return new ValidatedUpload(staged, package);
        }
        catch (PackagingException e)
        {
            await staged.DisposeAsync();
            throw new ProblemException(422, "invalid_skill", e.Message,
                new Dictionary<string, string[]> { ["archive"] = [e.Message] });
        }
        catch
        {
            await staged.DisposeAsync();
            throw;
        }
    }

    static async Task<RegistryEntry> FindReadableAsync(AdminDbContext db, ClaimsPrincipal user, string id, CancellationToken ct)
    {
        var entry = Guid.TryParse(id, out var entryId)
            ? await db.Entries.AsNoTracking().SingleOrDefaultAsync(e => e.Id == entryId, ct)
            : null;
        if (entry is null) throw EntryNotFound(id);
        if (entry.Visibility != Visibility.Org) return entry;
        if (user.FindOrgId() != entry.OrgId) throw EntryNotFound(id);
        if (!user.HasPermission(SelfTuneClaims.RegistryRead))
            throw new ProblemException(403, "forbidden", $"The API key lacks the '{SelfTuneClaims.RegistryRead}' permission.");
        return entry;
    }

    static async Task<(RegistryEntry Entry, SkillVersion Version)> FindVersionAsync(AdminDbContext db, ClaimsPrincipal user, string id, string version, CancellationToken ct)
    {
        var entry = await FindReadableAsync(db, user, id, ct);
        return (entry, await db.Versions.AsNoTracking().SingleOrDefaultAsync(v => v.EntryId == entry.Id && v.Version == version, ct)
            ?? throw ProblemException.NotFound($"Entry '{entry.Name}' has no version '{version}'."));
    }

    static ProblemException EntryNotFound(string id) => ProblemException.NotFound($"No registry entry with id '{id}'.");
}
