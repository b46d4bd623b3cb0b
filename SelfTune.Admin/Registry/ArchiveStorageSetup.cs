namespace SelfTune.Admin.Registry;

public enum ArchiveStorageProvider
{
    /// <summary>A local folder: zero setup, one instance (or instances sharing a file system).</summary>
    FileSystem,

    /// <summary>An Azure Blob Storage container, shared by every instance.</summary>
    AzureBlob,
}

/// <summary>The <c>Storage</c> section's archive settings.</summary>
public sealed class StorageOptions
{
    /// <summary><c>Storage:Provider</c>: where committed archives live.</summary>
    public ArchiveStorageProvider Provider { get; set; } = ArchiveStorageProvider.FileSystem;

    /// <summary>
    /// Folder of the file-system archive store (<c>Storage:ArchivePath</c>, default <c>{Storage:DataPath}/archives</c>);
    /// relative paths are under the content root. Its <c>staging</c> subfolder holds work in progress with every provider.
    /// </summary>
    public string ArchivePath { get; set; } = "";

    public AzureBlobStorageOptions AzureBlob { get; set; } = new();

    public string ArchiveFolder(IHostEnvironment env) => Path.GetFullPath(ArchivePath, env.ContentRootPath);
}

/// <summary>The <c>Storage:AzureBlob</c> section.</summary>
public sealed class AzureBlobStorageOptions
{
    /// <summary>The storage account's connection string; needs an account key to sign download redirects.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>The container of the archives, created when missing.</summary>
    public string Container { get; set; } = "archives";

    /// <summary>
    /// Off by default: downloads are then streamed through the app. On, a download answers 302 to a read-only address
    /// signed for a few minutes (a SAS), so the bytes skip the app; the storage host must then be reachable by every
    /// client (not only by the app, as with a private endpoint or an emulator on loopback).
    /// </summary>
    public bool RedirectDownloads { get; set; }
}

public static class ArchiveStorageSetup
{
    /// <summary>
    /// The archive store chosen by <c>Storage:Provider</c>. Created as the host starts rather than on first use: creating
    /// it removes staging files a crashed run left behind (and, for Azure, checks the container exists).
    /// </summary>
    public static IServiceCollection AddArchiveStorage(this IServiceCollection services, IConfiguration config, string dataFolder)
    {
        var storage = config.GetSection("Storage");
        services.AddOptions<StorageOptions>()
            .Configure(o => o.ArchivePath = Path.Combine(dataFolder, "archives")) // the default; Bind wins when set
            .Bind(storage)
            .Validate(o => o.Provider != ArchiveStorageProvider.AzureBlob || !string.IsNullOrWhiteSpace(o.AzureBlob.ConnectionString),
                "Storage:Provider is AzureBlob but Storage:AzureBlob:ConnectionString is not set.")
            .ValidateOnStart();

        var provider = storage.GetValue(nameof(StorageOptions.Provider), ArchiveStorageProvider.FileSystem);
        if (provider == ArchiveStorageProvider.AzureBlob)
        {
            services.AddSingleton<AzureBlobArchiveStore>();
            services.AddSingleton<ArchiveStore>(sp => sp.GetRequiredService<AzureBlobArchiveStore>());
            services.AddHostedService(sp => sp.GetRequiredService<AzureBlobArchiveStore>()); // creates the container if missing
        }
        else
        {
            services.AddActivatedSingleton<ArchiveStore, FileSystemArchiveStore>();
        }
        return services;
    }
}
