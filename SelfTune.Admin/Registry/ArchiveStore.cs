using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace SelfTune.Admin.Registry;

public sealed class StorageOptions
{
    /// <summary>Folder of the content-addressed archive store (<c>Storage:ArchivePath</c>); relative paths are under the content root.</summary>
    public string ArchivePath { get; set; } = "data/archives";
}

/// <summary>
/// Content-addressed archive files: <c>{root}/sha256/ab/abcdef....tar.gz</c>. A file is written once under its own hash,
/// so two versions with the same content share it and nothing stored is ever rewritten.
/// </summary>
public sealed class ArchiveStore
{
    readonly string root;

    public ArchiveStore(IOptions<StorageOptions> options, IHostEnvironment env)
    {
        root = Path.GetFullPath(options.Value.ArchivePath, env.ContentRootPath);
        Directory.CreateDirectory(Path.Combine(root, "staging"));
    }

    /// <summary>Copies <paramref name="content"/> to a staging file, hashing it on the way.</summary>
    public async Task<StagedArchive> StageAsync(Stream content, CancellationToken ct)
    {
        var path = Path.Combine(root, "staging", Guid.NewGuid().ToString("N"));
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await content.ReadAsync(buffer, ct)) > 0)
            {
                sha.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), ct);
                size += read;
            }
        }
        return new StagedArchive(this, path, Convert.ToHexStringLower(sha.GetHashAndReset()), size);
    }

    public bool Exists(string hash) => File.Exists(PathOf(hash));

    public Stream OpenRead(string hash) =>
        new FileStream(PathOf(hash), FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);

    string PathOf(string hash)
    {
        if (hash.Length != 64 || !hash.All(char.IsAsciiHexDigitLower)) throw new ArgumentException("Not a SHA-256 hex digest.", nameof(hash));
        return Path.Combine(root, "sha256", hash[..2], hash + ".tar.gz");
    }

    internal void Commit(string stagingPath, string hash)
    {
        var target = PathOf(hash);
        if (File.Exists(target)) return; // same hash, same bytes
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        try { File.Move(stagingPath, target); }
        catch (IOException) when (File.Exists(target)) { } // a concurrent writer stored the same bytes first
    }
}

/// <summary>An archive written to staging: readable for validation, then committed to the store or deleted on dispose.</summary>
public sealed class StagedArchive(ArchiveStore store, string path, string hash, long size) : IAsyncDisposable
{
    public string Hash { get; } = hash;
    public long Size { get; } = size;

    public Stream OpenRead() => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);

    public void Commit() => store.Commit(path, Hash);

    public ValueTask DisposeAsync()
    {
        try { File.Delete(path); } catch (IOException) { }
        return ValueTask.CompletedTask;
    }
}
