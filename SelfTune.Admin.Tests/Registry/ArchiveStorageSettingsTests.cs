using System.Globalization;
using System.Net;
using System.Web;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// The <c>Storage</c> settings of issue 11: a misconfigured Azure store stops the start with the setting named, and
/// <c>Storage:AzureBlob:RedirectDownloads</c> sends clients to a short-lived, read-only signed address of the blob.
/// </summary>
public sealed class ArchiveStorageSettingsTests
{
    static string StartFailure(AdminAppFactory app)
    {
        var error = Assert.ThrowsAny<Exception>(() => app.Services);
        var messages = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            messages.Add(e.Message);
            if (e is AggregateException a) messages.AddRange(a.Flatten().InnerExceptions.Select(i => i.Message));
        }
        return string.Join(" | ", messages);
    }

    [Fact]
    public async Task Azure_blob_without_a_connection_string_does_not_start()
    {
        await using var app = new AdminAppFactory();
        app.Settings["Storage:Provider"] = "AzureBlob";

        Assert.Contains("Storage:AzureBlob:ConnectionString", StartFailure(app));
    }

    [Fact]
    public async Task Redirect_downloads_without_an_account_key_do_not_start()
    {
        await using var app = new AdminAppFactory();
        app.Settings["Storage:Provider"] = "AzureBlob";
        // A SAS-only connection string cannot sign other addresses. Nothing listens on port 9: nothing is contacted.
        app.Settings["Storage:AzureBlob:ConnectionString"] =
            "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;SharedAccessSignature=sv=2024-08-04&ss=b&srt=sco&sp=rwc&se=2099-01-01T00:00:00Z&sig=AAAA";
        app.Settings["Storage:AzureBlob:RedirectDownloads"] = "true";

        var failure = StartFailure(app);
        Assert.Contains("Storage:AzureBlob:RedirectDownloads", failure);
        Assert.Contains("AccountKey", failure);
    }

    [Fact]
    public async Task With_redirect_downloads_an_archive_download_is_a_redirect_to_a_short_lived_read_only_address()
    {
        await using var app = new AzuriteAppFactory();
        await app.InitializeAsync();
        app.Settings["Storage:AzureBlob:RedirectDownloads"] = "true";
        var acme = app.CreateClient(app.DevelopmentKey);
        var entry = await CreateEntryAsync(acme, UniqueName("sas"));
        var id = entry.GetProperty("id").GetString()!;
        var archive = SkillArchive("redirected");
        await PushAsync(acme, id, "1.0.0", archive);

        var response = await acme.GetAsync($"/api/v1/registry/{id}/versions/1.0.0/archive");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!;
        var blob = app.ContainerClient.GetBlobClient($"sha256/{Sha256Hex(archive)[..2]}/{Sha256Hex(archive)}.tar.gz");
        Assert.Equal(blob.Uri.GetLeftPart(UriPartial.Path), location.GetLeftPart(UriPartial.Path));
        var sas = HttpUtility.ParseQueryString(location.Query);
        Assert.Equal("r", sas["sp"]); // read only
        var expires = DateTimeOffset.Parse(sas["se"]!, CultureInfo.InvariantCulture);
        Assert.InRange(expires, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow + AzureBlobArchiveStore.DownloadLinkLifetime + TimeSpan.FromMinutes(1));

        // The client follows it without the API key (HttpClient drops Authorization on a redirect to another host).
        using var anyone = new HttpClient();
        var download = await anyone.GetAsync(location);
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal(archive, await download.Content.ReadAsByteArrayAsync());
        Assert.Equal("application/gzip", download.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("-1.0.0.tar.gz", download.Content.Headers.ContentDisposition?.FileName?.Trim('"'));

        var overwrite = await anyone.PutAsync(location, new ByteArrayContent("tampered"u8.ToArray())
        {
            Headers = { { "x-ms-blob-type", "BlockBlob" } },
        });
        Assert.Equal(HttpStatusCode.Forbidden, overwrite.StatusCode);
        Assert.Equal(archive, (await blob.DownloadContentAsync()).Value.Content.ToArray());
    }
}
