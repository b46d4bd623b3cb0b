using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Net.Http.Headers;

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

        api.MapGet("", ListEntries).RequireApiKey(SelfTuneClaims.RegistryRead)
            .WithSummary("List the org's registry entries by name (optionally ?name= for one exact name); paged with ?limit= and ?cursor=.");
        api.MapPost("", CreateEntry).RequireApiKey(SelfTuneClaims.RegistryPush)
            .Accepts<CreateEntryRequest>("application/json", "multipart/form-data")
            .WithSummary("Create an entry; with multipart 'metadata' + 'archive' also push its first version.");
        api.MapGet("{id}", GetEntry).AllowOptionalApiKey().WithSummary("Get one entry.");
        api.MapGet("{id}/versions", ListVersions).AllowOptionalApiKey()
            .WithSummary("List an entry's versions, newest first; paged with ?limit= and ?cursor=.");
        api.MapGet("{id}/versions/{version}", GetVersion).AllowOptionalApiKey().WithSummary("Get one version with its file manifest.");
        api.MapGet("{id}/versions/{version}/archive", DownloadArchive).AllowOptionalApiKey()
            .Produces(StatusCodes.Status200OK, contentType: "application/gzip").WithSummary("Download a version's tar.gz.");
        api.MapPost("{id}/versions", PushVersion).RequireApiKey(SelfTuneClaims.RegistryPush)
            .Accepts<PushMetadata>("multipart/form-data")
            .WithSummary("Push a version (multipart 'metadata' JSON + 'archive' tar.gz); 200 when the same content already exists.");
        // A one-off import from GitHub needs a bound installation, so it is part of the (pro) GitHub integration.
        api.MapPost("{id}/versions/github", ImportFromGitHub).RequireApiKey(SelfTuneClaims.RegistryPush).RequirePlan(Plan.Pro)
            .WithSummary("Import a repository ref through a bound GitHub installation (source github-direct).");
        // Withdrawing without deleting: owners and admins, and keys with registry:push (they act as admins).
        api.MapPost("{id}/versions/{version}/yank", Yank).RequireApiKey(SelfTuneClaims.RegistryPush)
            .WithSummary("Yank a version with {\"reason\": \"...\"} (1-500 characters): it stays downloadable by exact version and is never latest.");
        api.MapDelete("{id}/versions/{version}/yank", Unyank).RequireApiKey(SelfTuneClaims.RegistryPush)
            .WithSummary("Un-yank a version; latest is chosen again.");
        api.MapPost("{id}/deprecate", Deprecate).RequireApiKey(SelfTuneClaims.RegistryPush)
            .WithSummary("Deprecate an entry with {\"message\": \"...\"} (1-500 characters); it stays readable and installable.");
        api.MapDelete("{id}/deprecate", Undeprecate).RequireApiKey(SelfTuneClaims.RegistryPush)
            .WithSummary("Remove an entry's deprecation.");

        app.MapGet("/api/v1/public/registry", ListPublic).WithTags("Registry")
            .WithSummary("List public entries of every org by name; no key needed; paged with ?limit= and ?cursor=.");

        // The browser's download link: same archive, authorised by the sign-in cookie instead of an API key.
        app.MapGet("/downloads/registry/{id:guid}/{version}", DownloadForMember).RequireAuthorization().ExcludeFromDescription();
        return app;
    }

    static async Task<Ok<EntryList>> ListEntries(ClaimsPrincipal user, RegistryQueries queries,
        string? name, string? limit, string? cursor, CancellationToken ct)
    {
        var page = await queries.ListEntriesAsync(user.GetOrgId(), name, PageRequest.Parse(limit, cursor, RegistryQueries.EntriesList), ct);
        return TypedResults.Ok(new EntryList(page.Items.Select(EntryResponse.From).ToList(), page.NextCursor));
    }

    static async Task<Ok<EntryList>> ListPublic(RegistryQueries queries, string? name, string? limit, string? cursor, CancellationToken ct)
    {
        var page = await queries.ListEntriesAsync(orgId: null, name, PageRequest.Parse(limit, cursor, RegistryQueries.EntriesList), ct);
        return TypedResults.Ok(new EntryList(page.Items.Select(EntryResponse.From).ToList(), page.NextCursor));
    }

    static async Task<Ok<EntryResponse>> GetEntry(string id, ClaimsPrincipal user, AdminDbContext db, CancellationToken ct)
    {
        var entry = await FindReadableAsync(db, user, id, ct);
        return TypedResults.Ok(EntryResponse.From(entry));
    }

    static async Task<Ok<VersionList>> ListVersions(string id, ClaimsPrincipal user, [AsParameters] RegistryReadServices services,
        string? limit, string? cursor, CancellationToken ct)
    {
        var request = PageRequest.Parse(limit, cursor, RegistryQueries.VersionsList); // a bad page is a 400 before any lookup
        var entry = await FindReadableAsync(services.Db, user, id, ct);
        var page = await services.Queries.ListVersionsAsync(entry.Id, request, ct);
        return TypedResults.Ok(new VersionList(page.Items, page.NextCursor));
    }

    static async Task<Ok<VersionResponse>> GetVersion(string id, string version, ClaimsPrincipal user, AdminDbContext db, CancellationToken ct)
    {
        var (_, row) = await FindVersionAsync(db, user, id, version, ct);
        return TypedResults.Ok(VersionResponse.From(row, withManifest: true));
    }

    static async Task<Results<FileStreamHttpResult, RedirectHttpResult>> DownloadArchive(string id, string version, ClaimsPrincipal user, [AsParameters] RegistryReadServices services,
        CancellationToken ct)
    {
        var (entry, row) = await FindVersionAsync(services.Db, user, id, version, ct);
        return await ArchiveAsync(services.Store, entry.Name, row, ct);
    }

    // Not in the API description (a browser link), so it answers plain IResult.
    static async Task<IResult> DownloadForMember(Guid id, string version, ClaimsPrincipal user,
        [AsParameters] RegistryReadServices services, CancellationToken ct)
    {
        var orgId = user.GetOrgId();
        var row = await services.Db.Versions.AsNoTracking().Include(v => v.Entry)
            .SingleOrDefaultAsync(v => v.EntryId == id && v.OrgId == orgId && v.Version == version, ct);
        if (row is null) return TypedResults.NotFound();
        return await ArchiveAsync(services.Store, row.Entry!.Name, row, ct);
    }

    /// <summary>
    /// A version's stored bytes, named <c>{entry}-{version}.tar.gz</c>; the ETag is the content hash. Streamed from the
    /// store, or a redirect to a short-lived signed address when the store is configured to give one.
    /// </summary>
    static async Task<Results<FileStreamHttpResult, RedirectHttpResult>> ArchiveAsync(ArchiveStore store, string entryName, SkillVersion row, CancellationToken ct)
    {
        var fileName = $"{entryName}-{row.Version}.tar.gz";
        if (store.DirectDownloadUri(row.ContentHash, fileName) is { } direct) return TypedResults.Redirect(direct.AbsoluteUri);
        return TypedResults.Stream(await store.OpenReadAsync(row.ContentHash, ct), "application/gzip", fileName,
            entityTag: new EntityTagHeaderValue($"\"{row.ContentHash}\""));
    }

    /// <summary>JSON: the entry alone. Multipart: the entry and its first version, from an upload (<see cref="UploadService"/>).</summary>
    static async Task<Created<EntryCreatedResponse>> CreateEntry(HttpRequest request, ClaimsPrincipal user, [AsParameters] RegistryWriteServices services,
        CancellationToken ct)
    {
        if (request.HasJsonContentType())
        {
            var body = await request.ReadFromJsonAsync<CreateEntryRequest>(services.Json.Value.SerializerOptions, ct)
                ?? throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
            var entry = await services.Registry.CreateEntryAsync(user.GetOrgId(), user.GetActorId(), body, ct);
            return TypedResults.Created($"/api/v1/registry/{entry.Id}", Created(entry, null));
        }

        var (created, version) = await services.Uploads.CreateEntryAsync(user.GetOrgId(), user.GetActorId(), request, ct);
        return TypedResults.Created($"/api/v1/registry/{created.Id}", Created(created, version));
    }

    static async Task<Results<Created<VersionResponse>, Ok<VersionResponse>>> PushVersion(string id, HttpRequest request, ClaimsPrincipal user,
        [AsParameters] RegistryWriteServices services, CancellationToken ct)
    {
        var entry = await RegistryService.FindEntryAsync(services.Db, user.GetOrgId(), ParseEntryId(id), ct);

        var result = await services.Uploads.PushVersionAsync(entry, request, user.GetActorId(), ct);
        return VersionResult(result);
    }

    static async Task<Results<Created<VersionResponse>, Ok<VersionResponse>>> ImportFromGitHub(string id, DirectImportRequest? request,
        ClaimsPrincipal user, DirectImport import, CancellationToken ct)
    {
        if (request is null) throw new ProblemException(400, "invalid_request", "The request body must be a JSON object.");
        return VersionResult(await import.ImportAsync(Actor.From(user), ParseEntryId(id), request, ct));
    }

    static async Task<Ok<VersionResponse>> Yank(string id, string version, YankRequest? request, ClaimsPrincipal user,
        WithdrawalService withdrawals, CancellationToken ct) =>
        TypedResults.Ok(VersionResponse.From(await withdrawals.YankAsync(Actor.From(user), ParseEntryId(id), version, request?.Reason, ct), withManifest: true));

    static async Task<Ok<VersionResponse>> Unyank(string id, string version, ClaimsPrincipal user, WithdrawalService withdrawals, CancellationToken ct) =>
        TypedResults.Ok(VersionResponse.From(await withdrawals.UnyankAsync(Actor.From(user), ParseEntryId(id), version, ct), withManifest: true));

    static async Task<Ok<EntryResponse>> Deprecate(string id, DeprecateRequest? request, ClaimsPrincipal user, WithdrawalService withdrawals, CancellationToken ct) =>
        TypedResults.Ok(EntryResponse.From(await withdrawals.DeprecateAsync(Actor.From(user), ParseEntryId(id), request?.Message, ct)));

    static async Task<Ok<EntryResponse>> Undeprecate(string id, ClaimsPrincipal user, WithdrawalService withdrawals, CancellationToken ct) =>
        TypedResults.Ok(EntryResponse.From(await withdrawals.UndeprecateAsync(Actor.From(user), ParseEntryId(id), ct)));

    static Guid ParseEntryId(string id) => Guid.TryParse(id, out var entryId) ? entryId : throw RegistryService.EntryNotFound(id);

    /// <summary>201 with the new version's address, or 200 when the same content was already there.</summary>
    static Results<Created<VersionResponse>, Ok<VersionResponse>> VersionResult(PublishResult result)
    {
        var body = VersionResponse.From(result.Version, withManifest: true);
        if (!result.Created) return TypedResults.Ok(body);
        return TypedResults.Created($"/api/v1/registry/{result.Version.EntryId}/versions/{Uri.EscapeDataString(result.Version.Version)}", body);
    }

    static EntryCreatedResponse Created(RegistryEntry e, SkillVersion? v) =>
        new(e.Id, e.OrgId, e.Name, e.Description, e.Visibility, e.SourceRepo, e.LatestVersion, e.CreatedAt, e.UpdatedAt,
            e.DeprecatedAt is not null, e.DeprecatedAt, e.DeprecationMessage, v is null ? null : VersionResponse.From(v, withManifest: true));

    static async Task<RegistryEntry> FindReadableAsync(AdminDbContext db, ClaimsPrincipal user, string id, CancellationToken ct)
    {
        var entry = Guid.TryParse(id, out var entryId)
            ? await db.Entries.AsNoTracking().SingleOrDefaultAsync(e => e.Id == entryId, ct)
            : null;
        if (entry is null) throw RegistryService.EntryNotFound(id);
        if (entry.Visibility != Visibility.Org) return entry;
        if (user.FindOrgId() != entry.OrgId) throw RegistryService.EntryNotFound(id);
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
}

// Two bundles, so a read (above all the anonymous public list, which takes only RegistryQueries) does not build the
// upload and publishing services a write needs.

/// <summary>The services the registry API's reads of versions and archives use, bound with <c>[AsParameters]</c>.</summary>
public sealed record RegistryReadServices(AdminDbContext Db, RegistryQueries Queries, ArchiveStore Store);

/// <summary>The services the registry API's writes use, bound with <c>[AsParameters]</c>.</summary>
public sealed record RegistryWriteServices(AdminDbContext Db, RegistryService Registry, UploadService Uploads, IOptions<JsonOptions> Json);
