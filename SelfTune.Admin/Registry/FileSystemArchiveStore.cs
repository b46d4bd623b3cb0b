namespace SelfTune.Admin.Registry;

/// <summary>
/// Archives as files under <c>Storage:ArchivePath</c>: <c>{root}/sha256/ab/abcdef....tar.gz</c>, staging in
/// <c>{root}/staging</c>. A commit is a rename within the folder, so a stored file is never seen half-written.
/// Several instances can share the folder only through a shared file system; otherwise use <see cref="AzureBlobArchiveStore"/>.
/// </summary>
public sealed class FileSystemArchiveStore : ArchiveStore
{
    readonly string root;

    public FileSystemArchiveStore(IOptions<StorageOptions> options, IHostEnvironment env, ILogger<ArchiveStore> logger)
        : this(options.Value.ArchiveFolder(env), logger) { }

    FileSystemArchiveStore(string root, ILogger logger) : base(Path.Combine(root, "staging"), logger) => this.root = root;

    public override Task<Stream> OpenReadAsync(string hash, CancellationToken ct) =>
        Task.FromResult<Stream>(new FileStream(PathOf(hash), FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, useAsync: true));

    public override string Describe() => $"the folder {root}";

    string PathOf(string hash) => Path.Combine(root, KeyOf(hash));

    protected internal override Task CommitAsync(string stagingPath, string hash, CancellationToken ct)
    {
        var target = PathOf(hash);
        if (File.Exists(target)) return Task.CompletedTask; // same hash, same bytes
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        try { File.Move(stagingPath, target); }
        catch (IOException) when (File.Exists(target)) { } // a concurrent writer stored the same bytes first
        return Task.CompletedTask;
    }
}
