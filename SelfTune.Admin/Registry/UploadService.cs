using Microsoft.AspNetCore.Http.Json;

namespace SelfTune.Admin.Registry;

/// <summary>
/// A version the CLI uploads (SPEC section 10): multipart/form-data with a <c>metadata</c> part (JSON, see
/// <see cref="PushMetadata"/>) and an <c>archive</c> part (tar.gz). Reads the body, stages the archive, checks the claimed
/// content hash and the package, and publishes through <see cref="RegistryService.PublishAsync"/>. Refusals are
/// <see cref="ProblemException"/>s: 415 for another content type, 400 for an unreadable body or bad metadata, 422 for an
/// archive that is not a valid skill.
/// </summary>
public sealed class UploadService(RegistryService registry, ArchiveStore store, IOptions<JsonOptions> json)
{
    /// <summary>Publishes the uploaded version of <paramref name="entry"/>; <c>Created</c> is false when the same content already exists.</summary>
    public async Task<PublishResult> PushVersionAsync(RegistryEntry entry, HttpRequest request, Guid actorId, CancellationToken ct)
    {
        var (metadata, archive) = await ReadAsync(request, ct);
        var version = RegistryService.ValidateVersion(metadata.Version);
        await using var staged = await StageAndValidateAsync(archive, metadata, ct);
        return await registry.PublishAsync(entry, version, metadata.ChangeSummary, staged.Archive, staged.Package, CliProvenance, actorId, ct);
    }

    /// <summary>
    /// Creates the entry the metadata names and publishes the upload as its first version. The upload is checked first,
    /// so an invalid one creates no entry.
    /// </summary>
    public async Task<(RegistryEntry Entry, SkillVersion Version)> CreateEntryAsync(Guid orgId, Guid actorId, HttpRequest request, CancellationToken ct)
    {
        var (metadata, archive) = await ReadAsync(request, ct);
        var version = RegistryService.ValidateVersion(metadata.Version);
        await using var staged = await StageAndValidateAsync(archive, metadata, ct);
        var entry = await registry.CreateEntryAsync(orgId, actorId,
            new CreateEntryRequest(metadata.Name, metadata.Description, metadata.Visibility, metadata.SourceRepo), ct);
        var result = await registry.PublishAsync(entry, version, metadata.ChangeSummary, staged.Archive, staged.Package, CliProvenance, actorId, ct);
        return (entry, result.Version);
    }

    static readonly VersionProvenance CliProvenance = new(VersionSource.Cli, null, null);

    async Task<(PushMetadata Metadata, IFormFile Archive)> ReadAsync(HttpRequest request, CancellationToken ct)
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
        try { metadata = JsonSerializer.Deserialize<PushMetadata>(metadataText, json.Value.SerializerOptions); }
        catch (JsonException e) { throw ProblemException.Invalid("metadata", "The 'metadata' part is not valid JSON: " + InputProblems.Describe(e) + "."); }
        if (metadata is null) throw ProblemException.Invalid("metadata", "The 'metadata' part must be a JSON object.");
        if (metadata.ChangeSummary is { Length: > RegistryService.MaxChangeSummaryLength })
            throw ProblemException.Invalid("change_summary", $"change_summary must be at most {RegistryService.MaxChangeSummaryLength} characters.");

        var archive = form.Files["archive"]
            ?? throw ProblemException.Invalid("archive", "The 'archive' part is required: a tar.gz of the skill folder with SKILL.md at its root.");
        return (metadata, archive);
    }

    async Task<StagedSkill> StageAndValidateAsync(IFormFile archive, PushMetadata metadata, CancellationToken ct)
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
            return new StagedSkill(staged, package);
        }
        catch (PackagingException e)
        {
            await staged.DisposeAsync();
            throw e.ToProblem();
        }
        catch
        {
            await staged.DisposeAsync();
            throw;
        }
    }
}
