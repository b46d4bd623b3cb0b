using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using SelfTune.Admin.Registry;
using SelfTune.Admin.Tests.Infrastructure;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// The archive store, the same tests on each provider (issue 11): what is committed reads back byte for byte under its
/// content-addressed key, stored once however often it is committed; what is not committed is not stored; staging is
/// left empty either way.
/// </summary>
public abstract class ArchiveStoreTests(AdminAppFactory app)
{
    ArchiveStore Store => app.Services.GetRequiredService<ArchiveStore>();
    string Staging => Path.Combine(app.DataPath, "archives", "staging");

    /// <summary>The keys of every stored archive, as the provider lists them (relative paths, blob names).</summary>
    protected abstract Task<List<string>> StoredKeysAsync();

    static string KeyOf(byte[] content) => $"sha256/{Sha256Hex(content)[..2]}/{Sha256Hex(content)}.tar.gz";

    /// <summary>Random bytes: several download ranges long, so a read spans more than one request to the storage.</summary>
    static byte[] LargeContent() => RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 12345);

    async Task<byte[]> ReadStoredAsync(string hash)
    {
        await using var stored = await Store.OpenReadAsync(hash, default);
        using var copy = new MemoryStream();
        await stored.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task A_committed_archive_reads_back_byte_identical_under_its_sha256()
    {
        var content = LargeContent();

        await using (var staged = await Store.StageAsync(new MemoryStream(content), default))
        {
            Assert.Equal(Sha256Hex(content), staged.Hash);
            Assert.Equal(content.Length, staged.Size);
            await staged.CommitAsync(default);
        }

        Assert.Contains(KeyOf(content), await StoredKeysAsync());
        Assert.Equal(content, await ReadStoredAsync(Sha256Hex(content)));
        Assert.Empty(Directory.EnumerateFiles(Staging));
    }

    [Fact]
    public async Task The_same_content_committed_twice_at_once_is_stored_once()
    {
        var content = RandomNumberGenerator.GetBytes(200_000);
        await using var first = await Store.StageAsync(new MemoryStream(content), default);
        await using var second = await Store.StageAsync(new MemoryStream(content), default);

        await Task.WhenAll(first.CommitAsync(default), second.CommitAsync(default));
        await using (var third = await Store.StageAsync(new MemoryStream(content), default)) await third.CommitAsync(default);

        Assert.Single(await StoredKeysAsync(), KeyOf(content));
        Assert.Equal(content, await ReadStoredAsync(Sha256Hex(content)));
    }

    [Fact]
    public async Task A_staged_archive_disposed_without_commit_is_not_stored()
    {
        var content = RandomNumberGenerator.GetBytes(50_000);

        await using (var staged = await Store.StageAsync(new MemoryStream(content), default))
        {
            await using var read = staged.OpenRead(); // readable for validation while staged
            Assert.Equal(content.Length, read.Length);
        }

        Assert.DoesNotContain(KeyOf(content), await StoredKeysAsync());
        Assert.Empty(Directory.EnumerateFiles(Staging));
        await Assert.ThrowsAnyAsync<Exception>(() => ReadStoredAsync(Sha256Hex(content)));
    }
}

public sealed class ArchiveStoreOnFileSystemTests(AdminAppFactory app) : ArchiveStoreTests(app), IClassFixture<AdminAppFactory>
{
    readonly string root = Path.Combine(app.DataPath, "archives");

    protected override Task<List<string>> StoredKeysAsync() => Task.FromResult(
        Directory.Exists(Path.Combine(root, "sha256"))
            ? Directory.EnumerateFiles(Path.Combine(root, "sha256"), "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')).ToList()
            : []);
}

public sealed class ArchiveStoreOnAzuriteTests(AzuriteAppFactory app) : ArchiveStoreTests(app), IClassFixture<AzuriteAppFactory>
{
    protected override async Task<List<string>> StoredKeysAsync()
    {
        var keys = new List<string>();
        await foreach (var blob in app.ContainerClient.GetBlobsAsync()) keys.Add(blob.Name);
        return keys;
    }

    [Fact]
    public async Task The_container_is_created_as_the_app_starts_when_missing()
    {
        await using var fresh = new AzuriteAppFactory();
        await fresh.InitializeAsync();
        Assert.False((await fresh.ContainerClient.ExistsAsync()).Value);

        _ = fresh.Services; // starts the host

        Assert.True((await fresh.ContainerClient.ExistsAsync()).Value);
    }

    [Fact]
    public async Task Stored_archives_are_gzip_blobs()
    {
        var content = RandomNumberGenerator.GetBytes(1000);
        await using (var staged = await app.Services.GetRequiredService<ArchiveStore>().StageAsync(new MemoryStream(content), default))
            await staged.CommitAsync(default);

        var properties = await app.ContainerClient.GetBlobClient($"sha256/{Sha256Hex(content)[..2]}/{Sha256Hex(content)}.tar.gz").GetPropertiesAsync();
        Assert.Equal("application/gzip", properties.Value.ContentType);
        Assert.Equal(content.Length, properties.Value.ContentLength);
    }
}
