using Azure.Storage.Blobs;

namespace SelfTune.Admin.Tests.Infrastructure;

/// <summary>
/// <see cref="AdminAppFactory"/> with its archives in Azure Blob Storage (Azurite, <see cref="Azurite"/>), in a container
/// of its own that does not exist until the app starts and creates it. Everything else (database, staging) as usual.
/// </summary>
public sealed class AzuriteAppFactory : AdminAppFactory, IAsyncLifetime
{
    public string Container { get; } = "archives-" + Guid.NewGuid().ToString("N");
    public string ConnectionString { get; private set; } = null!;

    /// <summary>The container as a test reads it, beside the app.</summary>
    public BlobContainerClient ContainerClient => new(ConnectionString, Container);

    /// <summary>Points the app at Azurite; before the first use of the app (xunit calls it for a class fixture).</summary>
    public async Task InitializeAsync()
    {
        ConnectionString = await Azurite.ConnectionStringAsync();
        Settings["Storage:Provider"] = "AzureBlob";
        Settings["Storage:AzureBlob:ConnectionString"] = ConnectionString;
        Settings["Storage:AzureBlob:Container"] = Container;
    }

    Task IAsyncLifetime.DisposeAsync() => Task.CompletedTask; // the app goes with Dispose, the container with the emulator's folder
}
