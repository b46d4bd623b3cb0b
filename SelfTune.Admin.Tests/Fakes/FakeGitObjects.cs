using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace SelfTune.Admin.Tests.Fakes;

/// <summary>Git object hashing (real git SHA-1s for blobs/trees/commits) and GitHub-style tarballs.</summary>
internal static class FakeGitObjects
{
    public const string FileMode = "100644";
    public const string ExecutableMode = "100755";
    public const string SymlinkMode = "120000";
    public const string TreeMode = "040000";

    public static string Hash(string type, byte[] body)
    {
        var header = Encoding.ASCII.GetBytes($"{type} {body.Length}\0");
        var all = new byte[header.Length + body.Length];
        header.CopyTo(all, 0);
        body.CopyTo(all, header.Length);
        return Convert.ToHexStringLower(SHA1.HashData(all));
    }

    public static string BlobSha(byte[] content) => Hash("blob", content);

    public static string NormalizePath(string path)
    {
        var p = path.Replace('\\', '/').Trim('/');
        if (p.Length == 0 || p.Split('/').Any(s => s is "" or "." or ".." || s == ".git"))
            throw new ArgumentException($"Invalid repository path '{path}'.", nameof(path));
        return p;
    }

    /// <summary>Builds (and registers) all trees for a snapshot; returns the root tree SHA.</summary>
    public static string BuildTrees(IReadOnlyDictionary<string, FakeFile> files, IDictionary<string, FakeTree> trees)
    {
        var root = new Node();
        foreach (var f in files.Values)
        {
            var parts = f.Path.Split('/');
            var node = root;
            for (var i = 0; i < parts.Length - 1; i++)
            {
                if (node.Files.ContainsKey(parts[i])) throw new ArgumentException($"'{f.Path}' is below a file.");
                node = node.Dirs.TryGetValue(parts[i], out var child) ? child : node.Dirs[parts[i]] = new Node();
            }
            if (node.Dirs.ContainsKey(parts[^1])) throw new ArgumentException($"'{f.Path}' is also a directory.");
            node.Files[parts[^1]] = f;
        }
        return Write(root, trees);
    }

    private sealed class Node
    {
        public readonly Dictionary<string, Node> Dirs = new(StringComparer.Ordinal);
        public readonly Dictionary<string, FakeFile> Files = new(StringComparer.Ordinal);
    }

    private static string Write(Node node, IDictionary<string, FakeTree> trees)
    {
        var entries = new List<FakeTreeEntry>();
        foreach (var (name, dir) in node.Dirs) entries.Add(new FakeTreeEntry(name, TreeMode, "tree", Write(dir, trees), 0));
        foreach (var (name, f) in node.Files) entries.Add(new FakeTreeEntry(name, f.Mode, "blob", f.BlobSha, f.Content.Length));
        // git sorts tree entries by name, with directories compared as "name/"
        entries.Sort((a, b) => string.CompareOrdinal(SortKey(a), SortKey(b)));

        using var ms = new MemoryStream();
        foreach (var e in entries)
        {
            var mode = e.Mode == TreeMode ? "40000" : e.Mode;
            ms.Write(Encoding.UTF8.GetBytes($"{mode} {e.Name}\0"));
            ms.Write(Convert.FromHexString(e.Sha));
        }
        var sha = Hash("tree", ms.ToArray());
        trees[sha] = new FakeTree(sha, entries);
        return sha;
    }

    private static string SortKey(FakeTreeEntry e) => e.Type == "tree" ? e.Name + "/" : e.Name;

    public static string CommitSha(string treeSha, string? parentSha, string message, DateTimeOffset date)
    {
        var ts = date.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append("tree ").Append(treeSha).Append('\n');
        if (parentSha is not null) sb.Append("parent ").Append(parentSha).Append('\n');
        sb.Append($"author {FakeCommit.AuthorName} <{FakeCommit.AuthorEmail}> {ts} +0000\n");
        sb.Append($"committer {FakeCommit.AuthorName} <{FakeCommit.AuthorEmail}> {ts} +0000\n\n");
        sb.Append(message);
        if (!message.EndsWith('\n')) sb.Append('\n');
        return Hash("commit", Encoding.UTF8.GetBytes(sb.ToString()));
    }

    /// <summary>Recursive listing in git order (a directory precedes its contents).</summary>
    public static IEnumerable<(string Path, FakeTreeEntry Entry)> Walk(string treeSha, IReadOnlyDictionary<string, FakeTree> trees, string prefix = "")
    {
        foreach (var e in trees[treeSha].Entries)
        {
            var path = prefix + e.Name;
            yield return (path, e);
            if (e.Type == "tree")
                foreach (var sub in Walk(e.Sha, trees, path + "/")) yield return sub;
        }
    }

    /// <summary>
    /// Like `git archive --format=tar.gz --prefix={owner}-{repo}-{sha7}/`: a pax global header with
    /// comment=&lt;sha&gt;, then every directory and file under the top folder, mtime = commit time, root:root.
    /// </summary>
    public static byte[] BuildTarball(string owner, string repo, FakeCommit commit, IReadOnlyDictionary<string, FakeTree> trees, IReadOnlyDictionary<string, byte[]> blobs)
    {
        var prefix = TopFolder(owner, repo, commit.Sha) + "/";
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true))
        using (var tar = new TarWriter(gz, TarEntryFormat.Pax, leaveOpen: true))
        {
            var global = new PaxGlobalExtendedAttributesTarEntry(new Dictionary<string, string> { ["comment"] = commit.Sha });
            try { global.Name = "pax_global_header"; } catch (InvalidOperationException) { }
            // As git archive does; a new entry's default is the current time, so two downloads of one commit a second
            // apart differed (FakeGitHubTests.Tarball_redirects_to_codeload_and_matches_github_layout, under load).
            global.ModificationTime = commit.Date;
            tar.WriteEntry(global);
            tar.WriteEntry(Entry(TarEntryType.Directory, prefix, "775", commit.Date));
            foreach (var (path, e) in Walk(commit.TreeSha, trees))
            {
                var name = prefix + path;
                if (e.Type == "tree")
                {
                    tar.WriteEntry(Entry(TarEntryType.Directory, name + "/", "775", commit.Date));
                }
                else if (e.Mode == SymlinkMode)
                {
                    var link = Entry(TarEntryType.SymbolicLink, name, "777", commit.Date);
                    link.LinkName = Encoding.UTF8.GetString(blobs[e.Sha]);
                    tar.WriteEntry(link);
                }
                else
                {
                    var file = Entry(TarEntryType.RegularFile, name, e.Mode == ExecutableMode ? "775" : "664", commit.Date);
                    file.DataStream = new MemoryStream(blobs[e.Sha], writable: false);
                    tar.WriteEntry(file);
                }
            }
        }
        return ms.ToArray();
    }

    public static string TopFolder(string owner, string repo, string sha) => $"{owner}-{repo}-{sha[..7]}";

    private static PosixTarEntry Entry(TarEntryType type, string name, string octalMode, DateTimeOffset mtime)
    {
        // ustar like git, pax only when the name does not fit
        PosixTarEntry entry = Encoding.UTF8.GetByteCount(name) <= 100
            ? new UstarTarEntry(type, name)
            : new PaxTarEntry(type, name);
        entry.Mode = (UnixFileMode)Convert.ToInt32(octalMode, 8);
        entry.ModificationTime = mtime;
        entry.Uid = 0;
        entry.Gid = 0;
        entry.UserName = "root";
        entry.GroupName = "root";
        return entry;
    }
}
