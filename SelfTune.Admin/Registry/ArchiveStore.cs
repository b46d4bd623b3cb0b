using System.Security.Cryptography;

namespace SelfTune.Admin.Registry;

/// <summary>
/// Content-addressed archives: each is stored once under the SHA-256 of its bytes (key <c>sha256/ab/abcdef....tar.gz</c>),
/// so two versions with the same content share it and nothing stored is ever rewritten. Where they are stored is the
/// implementation's business: a folder (<see cref="FileSystemArchiveStore"/>, the default) or an Azure Blob Storage
/// container (<see cref="AzureBlobArchiveStore"/>, for several instances); <see cref="ArchiveStorageSetup"/> picks one.
/// Work in progress (uploads being validated, repack spools) is always a local file in the staging folder, and only
/// there: a process that dies leaves its files behind, so the folder is cleared of old files when the store is created
/// at start-up. An archive is stored only when its <see cref="StagedArchive"/> is committed.
/// </summary>
public abstract class ArchiveStore
{
    /// <summary>
    /// A staging file older than this at start-up was left by a run that died. A younger one may belong to another
    /// instance on the same folder that is still writing it, so it is left alone.
    /// </summary>
    public static readonly TimeSpan StaleStagingAge = TimeSpan.FromHours(1);

    protected internal const int BufferSize = 81920;

    readonly string staging;

    protected ArchiveStore(string stagingFolder, ILogger logger)
    {
        staging = stagingFolder;
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
    /// start removes it. Synchronous, as every file here: reads and writes of a file just written go to the page cache, and
    /// an asynchronous one on Linux is a hop to the thread pool each (a publish's repack spent 1-2 ms on them).
    /// </summary>
    public FileStream CreateScratchFile() =>
        new(Path.Combine(staging, "scratch-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None,
            BufferSize, FileOptions.DeleteOnClose);

    /// <summary>
    /// A new staging file to write an archive into, hashed as it is written (<see cref="ArchiveWriter"/>): a repack writes
    /// its output straight into it, where it was written to a scratch file and copied.
    /// </summary>
    public ArchiveWriter CreateArchiveWriter() => new(this, Path.Combine(staging, Guid.NewGuid().ToString("N")));

    /// <summary>Copies <paramref name="content"/> to a staging file, hashing it on the way.</summary>
    public async Task<StagedArchive> StageAsync(Stream content, CancellationToken ct)
    {
        await using var writer = CreateArchiveWriter();
        await content.CopyToAsync(writer.Stream, BufferSize, ct);
        return writer.Complete();
    }

    /// <summary>Opens a stored archive for reading; the bytes are fetched as they are read, never held whole.</summary>
    public abstract Task<Stream> OpenReadAsync(string hash, CancellationToken ct);

    /// <summary>Whether the store can be reached now (readiness): the staging folder, and the store's own place.</summary>
    public virtual Task<bool> IsReachableAsync(CancellationToken ct) => Task.FromResult(Directory.Exists(staging));

    /// <summary>Where archives are kept, for people (start-up banner, readiness report); never a secret.</summary>
    public abstract string Describe();

    /// <summary>
    /// A short-lived, read-only address the client can download the archive from directly, named
    /// <paramref name="fileName"/>; null when the app streams it itself (<see cref="OpenReadAsync"/>).
    /// </summary>
    public virtual Uri? DirectDownloadUri(string hash, string fileName) => null;

    /// <summary>
    /// Stores the staged file at <paramref name="stagingPath"/> under <paramref name="hash"/>. Storing a hash that is
    /// already there does nothing (same hash, same bytes), also when a concurrent writer stores it first. The staging
    /// file may be moved away; whatever is left of it is deleted by <see cref="StagedArchive"/>.
    /// </summary>
    protected internal abstract Task CommitAsync(string stagingPath, string hash, CancellationToken ct);

    /// <summary>The archive's key in the store: <c>sha256/ab/abcdef....tar.gz</c>, a relative path or a blob name.</summary>
    protected static string KeyOf(string hash)
    {
        if (hash.Length != 64 || !hash.All(char.IsAsciiHexDigitLower)) throw new ArgumentException("Not a SHA-256 hex digest.", nameof(hash));
        return $"sha256/{hash[..2]}/{hash}.tar.gz";
    }
}

/// <summary>
/// An archive being written to a staging file, hashed (SHA-256) on the way through <see cref="Stream"/>;
/// <see cref="Complete"/> closes it as a <see cref="StagedArchive"/>, and disposing it before that deletes the file.
/// </summary>
public sealed class ArchiveWriter : IAsyncDisposable
{
    readonly ArchiveStore store;
    readonly string path;
    readonly FileStream file;
    readonly SHA256 sha = SHA256.Create();
    readonly CryptoStream hashing;
    bool completed;

    internal ArchiveWriter(ArchiveStore store, string path)
    {
        (this.store, this.path) = (store, path);
        file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, ArchiveStore.BufferSize); // synchronous: see CreateScratchFile
        hashing = new CryptoStream(file, sha, CryptoStreamMode.Write, leaveOpen: true);
    }

    /// <summary>Where the archive's bytes are written.</summary>
    public Stream Stream => hashing;

    /// <summary>Ends the file and hands it over as staged, with its hash and size.</summary>
    public StagedArchive Complete()
    {
        hashing.FlushFinalBlock();
        var size = file.Position;
        file.Dispose();
        completed = true;
        return new StagedArchive(store, path, Convert.ToHexStringLower(sha.Hash!), size);
    }

    public ValueTask DisposeAsync()
    {
        hashing.Dispose();
        file.Dispose();
        sha.Dispose();
        if (!completed)
        {
            try { File.Delete(path); } catch (IOException) { }
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>An archive written to staging: readable for validation, then committed to the store or deleted on dispose.</summary>
public sealed class StagedArchive(ArchiveStore store, string path, string hash, long size) : IAsyncDisposable
{
    public string Hash { get; } = hash;
    public long Size { get; } = size;

    public Stream OpenRead() => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, ArchiveStore.BufferSize, useAsync: true);

    public Task CommitAsync(CancellationToken ct) => store.CommitAsync(path, Hash, ct);

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
