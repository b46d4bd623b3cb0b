using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.Registry;

public sealed class StorageOptions
{
    /// <summary>Folder of the content-addressed archive store (<c>Storage:ArchivePath</c>); relative paths are under the content root.</summary>
    public string ArchivePath { get; set; } = "data/archives";
}

/// <summary>
/// Content-addressed archive files: <c>{root}/sha256/ab/abcdef....tar.gz</c>. A file is written once under its own hash,
/// so two versions with the same content share it and nothing stored is ever rewritten.
/// Work in progress (uploads being validated, repack spools) lives in <c>{root}/staging</c>, and only there: a process
/// that dies leaves its files behind, so the folder is cleared of old files when the store is created at start-up.
/// </summary>
public sealed class ArchiveStore
{
    /// <summary>
    /// A staging file older than this at start-up was left by a run that died. A younger one may belong to another
    /// instance on the same folder that is still writing it, so it is left alone.
    /// </summary>
    public static readonly TimeSpan StaleStagingAge = TimeSpan.FromHours(1);

    readonly string root;
    readonly string staging;

    public ArchiveStore(IOptions<StorageOptions> options, IHostEnvironment env, ILogger<ArchiveStore> logger)
    {
        root = Path.GetFullPath(options.Value.ArchivePath, env.ContentRootPath);
        staging = Path.Combine(root, "staging");
        Directory.CreateDirectory(staging);
        RemoveStaleStagingFiles(logger);
    }

    void RemoveStaleStagingFiles(ILogger logger)
    {
        // File times come from the OS clock, so the cut-off does too.
        var cutoff = DateTime.UtcNow - StaleStagingAge;
        int removed = 0;
        foreach (var file in new DirectoryInfo(staging).EnumerateFiles())
        {
            if (file.LastWriteTimeUtc > cutoff) continue;
            try
            {
                file.Delete();
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning("Could not remove the stale staging file {File}: {Reason}", file.FullName, e.Message);
            }
        }
        if (removed > 0) logger.LogInformation("Removed {Count} staging file(s) an earlier run left in {Folder}.", removed, staging);
    }

    /// <summary>
    /// A scratch file in the staging folder, deleted when closed (e.g. the spool of a GitHub repack). Not in the system
    /// temp folder: on Unix "delete on close" happens in the process, so a crash leaves the file, and here the next
    /// start removes it.
    /// </summary>
    public FileStream CreateScratchFile() =>
        new(Path.Combine(staging, "scratch-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
            81920, FileOptions.DeleteOnClose | FileOptions.Asynchronous);

    /// <summary>Copies <paramref name="content"/> to a staging file, hashing it on the way.</summary>
    public async Task<StagedArchive> StageAsync(Stream content, CancellationToken ct)
    {
        var path = Path.Combine(staging, Guid.NewGuid().ToString("N"));
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

/// <summary>
/// A validated skill staged for publishing, whether uploaded (<c>UploadService</c>) or packaged from a repository folder
/// (<c>SkillPackager</c>): the staged archive and what it holds. Disposing removes the staged file (a committed one stays).
/// </summary>
public sealed record StagedSkill(StagedArchive Archive, SkillPackage Package) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Archive.DisposeAsync();
}
