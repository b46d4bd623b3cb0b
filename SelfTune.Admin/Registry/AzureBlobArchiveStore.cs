using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;
using Microsoft.Net.Http.Headers;

namespace SelfTune.Admin.Registry;

/// <summary>
/// Archives as block blobs in one Azure Blob Storage container (<c>Storage:AzureBlob</c>), named by the same
/// content-addressed key as the files of <see cref="FileSystemArchiveStore"/>. Every instance of the app can share it.
/// Bytes are streamed both ways: uploads are read from the staging file, downloads fetched range by range.
/// </summary>
public sealed class AzureBlobArchiveStore : ArchiveStore, IHostedService
{
    /// <summary>
    /// How long a redirect's signed address is valid: enough to follow the redirect, short enough that a copied link
    /// soon stops working. The service checks it when a request starts, so a download under way is not cut off.
    /// </summary>
    public static readonly TimeSpan DownloadLinkLifetime = TimeSpan.FromMinutes(5);

    /// <summary>Signed addresses are valid from this long before now, so a storage clock a little behind ours accepts them.</summary>
    static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>A download holds at most one range of this size in memory.</summary>
    const int DownloadRangeSize = 1024 * 1024;

    readonly BlobContainerClient container;
    readonly bool redirectDownloads;
    readonly TimeProvider clock;

    public AzureBlobArchiveStore(IOptions<StorageOptions> options, IHostEnvironment env, TimeProvider clock, ILogger<ArchiveStore> logger)
        : base(Path.Combine(options.Value.ArchiveFolder(env), "staging"), logger)
    {
        var settings = options.Value.AzureBlob;
        container = new BlobContainerClient(settings.ConnectionString, settings.Container);
        redirectDownloads = settings.RedirectDownloads;
        this.clock = clock;
        // Signing needs the account key; finding out at start beats a 500 on the first download.
        if (redirectDownloads && !container.CanGenerateSasUri)
            throw new InvalidOperationException(
                "Storage:AzureBlob:RedirectDownloads needs a connection string with the account key (AccountKey=...) to sign download addresses.");
    }

    /// <summary>Creates the container when missing, as the host starts: a wrong connection string stops the start with its reason.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        try
        {
            await container.CreateIfNotExistsAsync(cancellationToken: ct);
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException)
        {
            throw new InvalidOperationException(
                $"Could not open the archive container '{container.Name}' at {container.Uri} (Storage:AzureBlob): {e.Message}", e);
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    public override async Task<bool> IsReachableAsync(CancellationToken ct) =>
        await base.IsReachableAsync(ct) && (await container.ExistsAsync(ct)).Value;

    /// <summary>The container's address (the connection string's key is not part of it).</summary>
    public override string Describe() => $"Azure Blob container {container.Uri}";

    public override async Task<Stream> OpenReadAsync(string hash, CancellationToken ct) =>
        // allowModifications: false pins the blob's ETag, so every range comes from the same blob (stored archives never change anyway).
        await container.GetBlobClient(KeyOf(hash))
            .OpenReadAsync(new BlobOpenReadOptions(allowModifications: false) { BufferSize = DownloadRangeSize }, ct);

    public override Uri? DirectDownloadUri(string hash, string fileName)
    {
        if (!redirectDownloads) return null;
        var now = clock.GetUtcNow();
        var disposition = new ContentDispositionHeaderValue("attachment");
        disposition.SetHttpFileName(fileName);
        // Read-only, one blob, a few minutes; the response headers are set by the signature, as the app would send them.
        return container.GetBlobClient(KeyOf(hash)).GenerateSasUri(new BlobSasBuilder(BlobSasPermissions.Read, now + DownloadLinkLifetime)
        {
            StartsOn = now - ClockSkew,
            ContentType = "application/gzip",
            ContentDisposition = disposition.ToString(),
        });
    }

    protected internal override async Task CommitAsync(string stagingPath, string hash, CancellationToken ct)
    {
        var blob = container.GetBlobClient(KeyOf(hash));
        if (await blob.ExistsAsync(ct)) return; // same hash, same bytes
        await using var content = new FileStream(stagingPath, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true);
        try
        {
            // A blob is visible only once complete: a small one is one Put Blob, and the blocks of a large upload that a
            // crash leaves uncommitted are never part of a blob (the service discards them). So no half-written archive.
            await blob.UploadAsync(content, new BlobUploadOptions
            {
                HttpHeaders = new BlobHttpHeaders { ContentType = "application/gzip" },
                Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All }, // never rewrite a stored archive
            }, ct);
        }
        catch (RequestFailedException e) when (e.ErrorCode == BlobErrorCode.BlobAlreadyExists || e.ErrorCode == BlobErrorCode.ConditionNotMet)
        {
            // A concurrent writer stored the same bytes first.
        }
    }
}
