using System.Buffers;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using static SelfTune.Admin.Registry.Packaging.PackagingRules;

namespace SelfTune.Admin.Registry.Packaging;

/// <summary>
/// The one packaging validator of the registry, used for CLI uploads (<see cref="ValidateAsync"/>) and
/// GitHub repository tarballs (<see cref="RepackAsync"/>). Every rejection is a <see cref="PackagingException"/>.
/// </summary>
public static class SkillArchive
{
    const string SkillMd = "SKILL.md";

    /// <summary>The scan stops at this many refused files; past it, fixing the first ones is the next step anyway.</summary>
    internal const int MaxProblems = 250;

    /// <summary>
    /// zlib level 2 for the archives built here. On a skill of text (77 KB of tar) level 6 (<c>Optimal</c>) took 2.7 ms and
    /// was the largest part of a publish's repack; level 2 takes 0.3 ms for an archive 23 % larger (18.6 KB against 15.1 KB;
    /// level 5: 0.9 ms, 16.3 KB). Bytes are the same on every run of one runtime; a version's identity does not hang on them
    /// (<see cref="RegistryService.HoldsSameContent"/>: a re-publish of the same files at another level is unchanged).
    /// </summary>
    static readonly ZLibCompressionOptions RepackCompression = new() { CompressionLevel = 2 };

    /// <summary>Fixed mtime so identical input repacks to identical bytes.</summary>
    static readonly DateTimeOffset FixedTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// CLI upload: a tar.gz whose root is the skill root (entries may start with "./"). Validates only;
    /// the caller stores the original bytes, so .git, node_modules and .env* entries are rejected, not skipped.
    /// </summary>
    public static async Task<SkillPackage> ValidateAsync(Stream tarGz, PackagingLimits limits, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(tarGz);
        ArgumentNullException.ThrowIfNull(limits);
        var scan = new Scan(limits, repoPrefix: null, spool: null);
        await scan.RunAsync(tarGz, UploadBudget(limits), "skill archive", ct);
        return scan.Finish();
    }

    /// <summary>
    /// GitHub: a repository tarball (every entry under one top-level folder, possibly preceded by a pax global header).
    /// Keeps the files under <paramref name="skillPath"/> ("." = repository root), re-rooted at the skill root, silently
    /// leaves out .git, node_modules and .env* files, validates them, and only then writes a deterministic tar.gz
    /// to <paramref name="output"/>. Rejection messages name paths relative to the repository root.
    /// </summary>
    /// <param name="createSpool">
    /// Opens the read/write stream that holds the kept files until they are written out in order, once they are more than
    /// <see cref="InMemorySpoolBytes"/> (up to <see cref="PackagingLimits.MaxTotalBytes"/>); disposed at the end. The app
    /// passes <c>ArchiveStore.CreateScratchFile</c>.
    /// </param>
    public static async Task<SkillPackage> RepackAsync(Stream githubTarball, string skillPath, Stream output, Func<Stream> createSpool,
        PackagingLimits limits, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(githubTarball);
        ArgumentNullException.ThrowIfNull(skillPath);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(createSpool);
        ArgumentNullException.ThrowIfNull(limits);
        string prefix = NormalizeSkillPath(skillPath);

        // Kept files are spooled: output must be sorted, and the input can only be read once.
        await using var spool = new Spool(createSpool);

        var scan = new Scan(limits, prefix, spool);
        await scan.RunAsync(githubTarball, RepoBudget(limits), "GitHub tarball", ct);
        SkillPackage package = scan.Finish();
        await WriteDeterministicAsync(package, scan.SpoolOffsets, spool, output, ct);
        return package;
    }

    /// <summary>Decompressed-size budget for uploads: the content limit plus room for tar headers, pax records and padding.</summary>
    internal static long UploadBudget(PackagingLimits limits) => limits.MaxTotalBytes + (limits.MaxFiles + 16L) * 4096;

    /// <summary>
    /// A repository tarball holds the whole repository, not just the skill, so it gets a larger (still bounded) budget.
    /// </summary>
    internal static long RepoBudget(PackagingLimits limits) => UploadBudget(limits) + 64 * limits.MaxTotalBytes;

    /// <summary>The folder prefix of the kept files ("" for the root).</summary>
    static string NormalizeSkillPath(string skillPath) => PackagingRules.NormalizeSkillPath(skillPath, out string? reason) switch
    {
        PackagingRules.RepositoryRoot => "",
        string p => p,
        null => throw new PackagingException("invalid_skill_path", skillPath,
            $"The skill folder \"{Printable(skillPath)}\" is not a valid folder inside the repository ({reason}); use \".\" or a relative path like \"skills/foo\"."),
    };

    static async Task WriteDeterministicAsync(SkillPackage package, IReadOnlyDictionary<string, long> offsets, Spool spool, Stream output, CancellationToken ct)
    {
        // GNU entries with every time field fixed: no varying atime/ctime, and no pax "PaxHeaders.<pid>" names.
        await using var gzip = new GZipStream(output, RepackCompression, leaveOpen: true);
        await using (var writer = new TarWriter(gzip, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (PackagedFile file in package.Files)
            {
                byte[] content = new byte[file.Size];
                await spool.ReadAsync(offsets[file.Path], content, ct);
                var entry = new GnuTarEntry(TarEntryType.RegularFile, file.Path)
                {
                    ModificationTime = FixedTime,
                    AccessTime = FixedTime,
                    ChangeTime = FixedTime,
                    Uid = 0,
                    Gid = 0,
                    UserName = "",
                    GroupName = "",
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    DataStream = new MemoryStream(content, writable: false),
                };
                await writer.WriteEntryAsync(entry, ct);
            }
        }
    }

    /// <summary>A repack keeps the first this many bytes of the files it keeps in memory, the rest in the spool file.</summary>
    internal const int InMemorySpoolBytes = 1024 * 1024;

    /// <summary>
    /// The kept files of a repack, appended as read and read back by offset: in memory up to <see cref="InMemorySpoolBytes"/>,
    /// then in the stream <c>createFile</c> opens (what was in memory moves there first). A small skill, most of them,
    /// touches no file: its spool file cost a publish 0.7 ms (2 files) to 3 ms (13 files, 77 KB).
    /// </summary>
    sealed class Spool(Func<Stream> createFile) : IAsyncDisposable
    {
        Stream stream = new MemoryStream();
        bool inFile;

        public long Position => stream.Position;

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            if (!inFile && stream.Length + data.Length > InMemorySpoolBytes)
            {
                var file = createFile();
                stream.Position = 0;
                await stream.CopyToAsync(file, ct);
                stream = file;
                inFile = true;
            }
            await stream.WriteAsync(data, ct);
        }

        public async ValueTask ReadAsync(long offset, byte[] into, CancellationToken ct)
        {
            stream.Position = offset;
            await stream.ReadExactlyAsync(into, ct);
        }

        public ValueTask DisposeAsync() => stream.DisposeAsync();
    }

    /// <summary>One pass over a tar.gz: applies every rule and collects the manifest.</summary>
    sealed class Scan(PackagingLimits limits, string? repoPrefix, Spool? spool)
    {
        readonly List<PackagedFile> files = [];
        readonly HashSet<string> filePaths = new(StringComparer.Ordinal);
        readonly HashSet<string> dirPaths = new(StringComparer.Ordinal);
        readonly Dictionary<string, long> spoolOffsets = new(StringComparer.Ordinal);
        // Refusals of single files: the scan reads on, so one push or upload shows every problem, not just the first.
        readonly List<PackagingProblem> problems = [];
        long total;
        byte[]? skillMdBytes;
        string? topFolder;

        bool IsRepack => repoPrefix is not null;

        public IReadOnlyDictionary<string, long> SpoolOffsets => spoolOffsets;

        public async Task RunAsync(Stream input, long budget, string archiveKind, CancellationToken ct)
        {
            // Compressed data never needs more room than the decompressed budget (deflate adds a few bytes per 64 KiB).
            await using var gzip = new StrictGzipStream(input, compressedBudget: budget, archiveKind);
            await using var guard = new TarGuardStream(gzip, budget, archiveKind);
            try
            {
                await using var reader = new TarReader(guard, leaveOpen: true);
                // Non-seekable input: each entry's DataStream is read fully before asking for the next entry.
                while (await reader.GetNextEntryAsync(copyData: false, ct) is TarEntry entry)
                    await OnEntryAsync(entry, ct);

                // TarReader stops at the end-of-archive block. Reading on to the end of the input counts the rest against
                // the budget, refuses anything but zero padding after the tar, and checks every gzip member's CRC-32 and
                // length (GZipStream checks a member only when it reads its trailer).
                await guard.CopyToAsync(Stream.Null, ct);
                gzip.EnsureWhole();
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException
                                           or InvalidOperationException or NotSupportedException or ArgumentException
                                           or OverflowException)
            {
                // Everything TarReader/GZipStream throw for malformed input; other IOExceptions are the caller's stream failing.
                string detail = ex.Message.TrimEnd('.');
                if (ex is EndOfStreamException) detail = guard.BytesRead == 0 ? "it is empty" : "it ends unexpectedly (truncated?)";
                else if (ex is InvalidDataException && guard.BytesRead == 0) detail = "it is not gzip-compressed data";
                throw new PackagingException([.. problems, new PackagingProblem("invalid_archive", null, $"The {archiveKind} is not a valid tar.gz file: {detail}.")]);
            }
            catch (PackagingException e) when (problems.Count > 0 && !ReferenceEquals(e.Problems, problems))
            {
                // A problem that stops the scan (a limit, a broken archive): reported after the files refused before it.
                throw new PackagingException([.. problems, .. e.Problems]);
            }
        }

        /// <summary>
        /// Records a refusal of one file and lets the scan go on without it (the file is not kept). Past
        /// <see cref="MaxProblems"/> the scan stops: that many is enough to act on.
        /// </summary>
        void Refuse(string rule, string display, string message)
        {
            problems.Add(new PackagingProblem(rule, display, message));
            if (problems.Count >= MaxProblems) throw new PackagingException(problems);
        }

        async Task OnEntryAsync(TarEntry entry, CancellationToken ct)
        {
            if (entry.EntryType == TarEntryType.GlobalExtendedAttributes) return; // GitHub puts the commit id here

            string name = entry.Name;
            // Old (v7) tars mark folders as empty regular files whose name ends in '/'.
            bool isDir = entry.EntryType == TarEntryType.Directory ||
                         (entry.EntryType is TarEntryType.V7RegularFile or TarEntryType.RegularFile && entry.Length == 0 && name.EndsWith('/'));
            if (isDir) name = name.TrimEnd('/');

            string path;     // relative to the skill root
            string display;  // how messages name it: skill-relative for uploads, repository-relative for repacks
            if (!IsRepack)
            {
                path = name;
                while (path.StartsWith("./", StringComparison.Ordinal)) path = path[2..];
                if (path == ".") path = "";
                if (path.Length == 0 && isDir) return; // "./"
                display = path.Length == 0 ? name : path;
            }
            else
            {
                string? repoPath = StripTopFolder(name, isDir);
                if (repoPath is null) return; // the top folder itself
                if (repoPrefix!.Length == 0)
                {
                    path = repoPath;
                }
                else if (repoPath == repoPrefix)
                {
                    if (isDir) return;
                    throw new PackagingException("invalid_skill_path", repoPath,
                        $"{repoPath} is the skill_path but is not a folder in the repository (it is a {Describe(entry.EntryType)}).");
                }
                else if (repoPath.StartsWith(repoPrefix + "/", StringComparison.Ordinal))
                {
                    path = repoPath[(repoPrefix.Length + 1)..];
                }
                else
                {
                    return; // outside the skill folder
                }
                display = repoPath;
                if (path.Length == 0 && isDir) return;
            }

            if (UnsafePathReason(path) is string unsafeReason)
            {
                Refuse("unsafe_path", display,
                    $"\"{Printable(display)}\" is not a safe path ({unsafeReason}); archive paths must be relative and stay inside the skill folder.");
                return;
            }

            if (ExcludedReason(path, isDir) is string excluded)
            {
                if (IsRepack) return; // never part of a published skill; dropped silently from GitHub sources
                Refuse("excluded_file", display,
                    $"{display} must not be uploaded ({excluded} are never part of a skill); the CLI should leave {excluded} out of the archive.");
                return;
            }

            if (isDir)
            {
                dirPaths.Add(path);
                return;
            }

            if (SecretPattern(path) is string pattern)
            {
                Refuse("secret_file", display, $"{display} looks like a secret ({pattern}); remove it from the skill folder.");
                return;
            }

            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile))
            {
                string target = entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink ? $" to \"{entry.LinkName}\"" : "";
                Refuse("unsupported_entry", display,
                    $"{display} is a {Describe(entry.EntryType)}{target}; a skill may contain only regular files and folders.");
                return;
            }

            // GNU sparse data would be expanded by the reader beyond what the header and our counters see.
            if (entry is PaxTarEntry pax && pax.ExtendedAttributes.Keys.Any(k => k.StartsWith("GNU.sparse.", StringComparison.Ordinal)))
            {
                Refuse("unsupported_entry", display, $"{display} is stored as a sparse file; a skill may contain only regular files and folders.");
                return;
            }

            // Limits are checked from the header, before any data is read.
            long size = entry.Length;
            if (files.Count + 1 > limits.MaxFiles)
                throw new PackagingException("too_many_files", display,
                    $"{display} is file number {N(files.Count + 1)}, but a skill may contain at most {N(limits.MaxFiles)} files.");
            if (size > limits.MaxFileBytes)
            {
                Refuse("file_too_large", display, $"{display} is {N(size)} bytes, over the {FormatBytes(limits.MaxFileBytes)} limit per file.");
                return; // its data is skipped by the reader, and still counted by the budget
            }
            if (total + size > limits.MaxTotalBytes)
                throw new PackagingException("total_too_large", display,
                    $"{display} ({N(size)} bytes) brings the skill to {N(total + size)} bytes, over the {FormatBytes(limits.MaxTotalBytes)} total limit.");
            if (!filePaths.Add(path))
            {
                Refuse("duplicate_path", display, $"{display} appears more than once in the archive.");
                return;
            }

            MemoryStream? skillMd = path == SkillMd ? new MemoryStream((int)size) : null;
            if (spool is not null) spoolOffsets[path] = spool.Position;
            string sha = await ReadDataAsync(entry, size, display, skillMd, spool, ct);
            if (skillMd is not null) skillMdBytes = skillMd.ToArray();

            files.Add(new PackagedFile(path, size, sha));
            total += size;
        }

        /// <summary>GitHub tarballs put everything under one "owner-repo-sha/" folder; returns the path below it.</summary>
        string? StripTopFolder(string name, bool isDir)
        {
            int slash = name.IndexOf('/');
            string top = slash < 0 ? name : name[..slash];
            if (topFolder is null)
            {
                if (UnsafePathReason(top) is not null || (slash < 0 && !isDir))
                    throw new PackagingException("invalid_archive", name,
                        $"\"{Printable(name)}\" is not inside a top-level folder; expected a GitHub repository tarball.");
                topFolder = top;
            }
            else if (top != topFolder)
            {
                throw new PackagingException("invalid_archive", name,
                    $"\"{Printable(name)}\" is outside the tarball's top-level folder \"{topFolder}/\"; expected a GitHub repository tarball.");
            }
            return slash < 0 || slash == name.Length - 1 ? null : name[(slash + 1)..];
        }

        /// <summary>Streams one entry's data through SHA-256 (and into the SKILL.md buffer / repack spool).</summary>
        static async Task<string> ReadDataAsync(TarEntry entry, long declared, string display, MemoryStream? copy, Spool? spool, CancellationToken ct)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long read = 0;
            if (entry.DataStream is Stream data)
            {
                byte[] buffer = ArrayPool<byte>.Shared.Rent(81920);
                try
                {
                    int n;
                    while ((n = await data.ReadAsync(buffer, ct)) > 0)
                    {
                        read += n;
                        if (read > declared) break;
                        hash.AppendData(buffer, 0, n);
                        copy?.Write(buffer, 0, n);
                        if (spool is not null) await spool.WriteAsync(buffer.AsMemory(0, n), ct);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            if (read != declared)
                throw new PackagingException("invalid_archive", display,
                    $"{display} holds {N(read)} bytes but its tar header says {N(declared)}; the archive is corrupt or truncated.");
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        public SkillPackage Finish()
        {
            string skillMdDisplay = string.IsNullOrEmpty(repoPrefix) ? SkillMd : $"{repoPrefix}/{SkillMd}";

            // "a" as a file and "a/b" cannot both be extracted; refuse instead of picking one.
            foreach (string path in filePaths)
            {
                if (dirPaths.Contains(path)) Conflict(path);
                for (int slash = path.IndexOf('/'); slash > 0; slash = path.IndexOf('/', slash + 1))
                    if (filePaths.Contains(path[..slash])) Conflict(path[..slash]);
            }

            if (skillMdBytes is null)
            {
                string? variant = filePaths.FirstOrDefault(p => p.Equals(SkillMd, StringComparison.OrdinalIgnoreCase));
                string hint = variant is not null
                    ? $" (found {Display(variant)}; the name is case-sensitive)"
                    : IsRepack && repoPrefix!.Length > 0 && files.Count == 0 && dirPaths.Count == 0
                        ? $" (the repository has no files under {repoPrefix}/)"
                        : "";
                throw new PackagingException([.. problems, new PackagingProblem("skill_md_missing", skillMdDisplay,
                    $"{skillMdDisplay} is missing{hint}: every skill needs a SKILL.md at its root.")]);
            }

            SkillFrontMatter front;
            string text;
            IReadOnlyList<PackagingWarning> warnings;
            try
            {
                (front, text, warnings) = SkillMarkdownParser.Parse(skillMdBytes, skillMdDisplay);
            }
            catch (PackagingException e)
            {
                throw new PackagingException([.. problems, .. e.Problems]);
            }
            if (FolderNameWarning(front.Name, skillMdDisplay) is { } folder) warnings = [.. warnings, folder];
            if (problems.Count > 0) throw new PackagingException(problems) { Warnings = warnings };
            files.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
            return new SkillPackage(files.AsReadOnly(), front, text, total)
            {
                Warnings = warnings,
                SkillMarkdownPath = skillMdDisplay,
            };
        }

        /// <summary>
        /// The specification wants the name to match the skill's folder. Only a repack knows the folder (an upload's root
        /// and a repository root have no name of their own); a mismatch is a warning, since the registry entry, not the
        /// folder, is what users install.
        /// </summary>
        PackagingWarning? FolderNameWarning(string name, string skillMdDisplay)
        {
            if (string.IsNullOrEmpty(repoPrefix)) return null;
            string folder = repoPrefix[(repoPrefix.LastIndexOf('/') + 1)..];
            return folder == name ? null : new PackagingWarning("skill_name_differs_from_folder", skillMdDisplay,
                $"{skillMdDisplay} names the skill \"{name}\" but its folder is \"{Printable(folder)}\"; the Agent Skills specification asks for the same name.");
        }

        string Display(string path) => string.IsNullOrEmpty(repoPrefix) ? path : $"{repoPrefix}/{path}";

        void Conflict(string path)
        {
            if (problems.Any(p => p.Rule == "path_conflict" && p.FilePath == Display(path))) return; // "a" under "a/b" and "a/c"
            Refuse("path_conflict", Display(path), $"{Display(path)} is both a file and a folder in the archive.");
        }

        static string Describe(TarEntryType type) => type switch
        {
            TarEntryType.SymbolicLink => "symbolic link",
            TarEntryType.HardLink => "hard link",
            TarEntryType.CharacterDevice => "character device",
            TarEntryType.BlockDevice => "block device",
            TarEntryType.Fifo => "FIFO (named pipe)",
            TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile => "file",
            _ => $"tar entry of unsupported type '{(char)type}'",
        };
    }
}
