using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.Tests.Packaging;

public class SkillArchiveTests
{
    private const string SkillMd = "---\nname: pdf-tools\ndescription: Extract text from PDF files.\n---\n# PDF tools\n\nUse scripts/extract.py.\n";
    private const int MiB = 1024 * 1024;
    private static readonly string LongPath = "docs/" + new string('d', 60) + "/" + new string('e', 60) + "/notes.md"; // > 100 chars

    // ---------- helpers ----------

    private static Task<SkillPackage> Validate(byte[] tarGz, PackagingLimits? limits = null) =>
        SkillArchive.ValidateAsync(new CountingInput(tarGz), limits ?? PackagingLimits.Default);

    /// <summary>Asserts the upload is refused under <paramref name="rule"/> and that the message names <paramref name="path"/>.</summary>
    private static async Task<PackagingException> AssertRejected(byte[] tarGz, string rule, string? path)
    {
        var ex = await Assert.ThrowsAsync<PackagingException>(() => Validate(tarGz));
        Assert.Equal(rule, ex.Rule);
        Assert.Equal(path, ex.FilePath);
        if (path is not null) Assert.Contains(path, ex.Message);
        Assert.EndsWith(".", ex.Message);
        return ex;
    }

    private static TarBuilder WithSkillMd() => new TarBuilder().File("SKILL.md", SkillMd);

    private static string Sha(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    // ---------- valid uploads ----------

    [Fact]
    public async Task Valid_skill_yields_sorted_manifest_with_sizes_and_hashes()
    {
        byte[] script = Encoding.UTF8.GetBytes("print('hi')\n");
        byte[] readme = Encoding.UTF8.GetBytes("readme");
        byte[] notes = new byte[70_000];
        Random.Shared.NextBytes(notes);
        byte[] tgz = new TarBuilder()
            .Directory("./")
            .File("./SKILL.md", SkillMd)
            .Directory("./scripts/")
            .File("./scripts/extract.py", script)
            .File("./README.md", readme)
            .File("./" + LongPath, notes)
            .File("./empty.txt", "")
            .ToTarGz();

        SkillPackage package = await Validate(tgz);

        byte[] skillMd = Encoding.UTF8.GetBytes(SkillMd);
        Assert.Equal(
            [
                new PackagedFile("README.md", readme.Length, Sha(readme)),
                new PackagedFile("SKILL.md", skillMd.Length, Sha(skillMd)),
                new PackagedFile(LongPath, notes.Length, Sha(notes)),
                new PackagedFile("empty.txt", 0, Sha([])),
                new PackagedFile("scripts/extract.py", script.Length, Sha(script)),
            ],
            package.Files);
        Assert.Equal(new SkillFrontMatter("pdf-tools", "Extract text from PDF files."), package.Skill);
        Assert.Equal(SkillMd, package.SkillMarkdown);
        Assert.Equal(readme.Length + skillMd.Length + notes.Length + script.Length, package.TotalSize);
    }

    [Fact]
    public async Task Files_exactly_at_every_limit_are_accepted()
    {
        // 1,024 files of which 8 make exactly 16 MiB, the largest exactly 2 MiB.
        int skillMdSize = Encoding.UTF8.GetByteCount(SkillMd);
        var builder = WithSkillMd();
        for (int i = 0; i < 7; i++) builder.Zeros($"blob{i}.bin", 2 * MiB);
        builder.Zeros("blob7.bin", 2 * MiB - skillMdSize - 1015);
        for (int i = 0; i < 1015; i++) builder.File($"small/{i:D4}.txt", "x");

        SkillPackage package = await Validate(builder.ToTarGz());

        Assert.Equal(1024, package.Files.Count);
        Assert.Equal(16L * MiB, package.TotalSize);
    }

    // ---------- rejections ----------

    [Fact]
    public Task Path_escape_is_rejected() =>
        AssertRejected(WithSkillMd().Raw("../x", "evil"u8.ToArray()).ToTarGz(), "unsafe_path", "../x");

    [Fact]
    public Task Path_escape_behind_dot_slash_is_rejected() =>
        AssertRejected(WithSkillMd().Raw("./scripts/../../x", "evil"u8.ToArray()).ToTarGz(), "unsafe_path", "scripts/../../x");

    [Fact]
    public Task Absolute_path_is_rejected() =>
        AssertRejected(WithSkillMd().Raw("/etc/x", "evil"u8.ToArray()).ToTarGz(), "unsafe_path", "/etc/x");

    [Fact]
    public Task Backslash_path_is_rejected() =>
        AssertRejected(WithSkillMd().Raw("..\\x", "evil"u8.ToArray()).ToTarGz(), "unsafe_path", "..\\x");

    [Fact]
    public async Task Symlink_is_rejected()
    {
        var ex = await AssertRejected(WithSkillMd().Symlink("docs/passwd", "/etc/passwd").ToTarGz(), "unsupported_entry", "docs/passwd");
        Assert.Contains("symbolic link", ex.Message);
    }

    [Fact]
    public async Task Hard_link_is_rejected()
    {
        var ex = await AssertRejected(WithSkillMd().HardLink("copy.md", "SKILL.md").ToTarGz(), "unsupported_entry", "copy.md");
        Assert.Contains("hard link", ex.Message);
    }

    [Fact]
    public async Task Character_device_is_rejected()
    {
        var ex = await AssertRejected(WithSkillMd().CharDevice("dev/null").ToTarGz(), "unsupported_entry", "dev/null");
        Assert.Contains("character device", ex.Message);
    }

    [Fact]
    public Task Missing_skill_md_is_rejected() =>
        AssertRejected(new TarBuilder().File("README.md", "hi").ToTarGz(), "skill_md_missing", "SKILL.md");

    [Fact]
    public async Task Lowercase_skill_md_gets_a_hint()
    {
        var ex = await AssertRejected(new TarBuilder().File("skill.md", SkillMd).ToTarGz(), "skill_md_missing", "SKILL.md");
        Assert.Contains("case-sensitive", ex.Message);
    }

    [Theory]
    [InlineData("---\ndescription: Does things.\n---\nbody", "skill_md_missing_name")]
    [InlineData("---\nname: ''\ndescription: Does things.\n---\nbody", "skill_md_missing_name")]
    [InlineData("---\nname: x\n---\nbody", "skill_md_missing_description")]
    [InlineData("---\nname: x\ndescription:\n---\nbody", "skill_md_missing_description")]
    [InlineData("# No front matter\nname: x\n", "skill_md_no_front_matter")]
    [InlineData("---\nname: x\ndescription: y\n", "skill_md_no_front_matter")]
    [InlineData("---\nname: [unclosed\ndescription: y\n---\n", "skill_md_invalid_yaml")]
    [InlineData("---\n- a list\n---\n", "skill_md_invalid_yaml")]
    public async Task Bad_front_matter_is_rejected_with_a_distinct_rule(string skillMd, string rule)
    {
        var ex = await AssertRejected(new TarBuilder().File("SKILL.md", skillMd).ToTarGz(), rule, "SKILL.md");
        Assert.Contains("front matter", ex.Message);
    }

    [Fact]
    public async Task Front_matter_messages_differ_per_rule()
    {
        string[] docs = ["---\ndescription: d\n---\n", "---\nname: n\n---\n", "no front matter", "---\nname: [\n---\n"];
        var messages = new HashSet<string>();
        foreach (string doc in docs)
        {
            var ex = await Assert.ThrowsAsync<PackagingException>(() => Validate(new TarBuilder().File("SKILL.md", doc).ToTarGz()));
            messages.Add(ex.Message);
        }
        Assert.Equal(docs.Length, messages.Count);
    }

    [Fact]
    public async Task More_than_max_files_is_rejected()
    {
        var builder = WithSkillMd();
        for (int i = 1; i <= 1024; i++) builder.File($"files/{i:D4}.txt", "x");
        var ex = await AssertRejected(builder.ToTarGz(), "too_many_files", "files/1024.txt");
        Assert.Contains("1,024", ex.Message);
    }

    [Fact]
    public Task File_over_per_file_limit_is_rejected() =>
        AssertRejected(WithSkillMd().Zeros("data/big.bin", 2 * MiB + 1).ToTarGz(), "file_too_large", "data/big.bin");

    [Fact]
    public async Task File_size_is_checked_from_the_header_before_reading_data()
    {
        // The header claims 1 GiB but no data follows: rejection must come from the header alone.
        byte[] tar = [.. new TarBuilder(TarEntryFormat.Ustar).File("SKILL.md", SkillMd).ToTar().AsSpan(0, 1024), .. TarBuilder.RawHeader("huge.bin", '0', 1L << 30)];
        var ex = await AssertRejected(TarBuilder.Gzip(tar), "file_too_large", "huge.bin");
        Assert.Contains("1,073,741,824", ex.Message);
    }

    [Fact]
    public async Task Total_over_limit_is_rejected()
    {
        // 16 MiB + 1 byte spread over files that are each within the 2 MiB per-file limit.
        int skillMdSize = Encoding.UTF8.GetByteCount(SkillMd);
        var builder = WithSkillMd();
        for (int i = 0; i < 7; i++) builder.Zeros($"blob{i}.bin", 2 * MiB);
        builder.Zeros("blob7.bin", 2 * MiB - skillMdSize + 1);
        var ex = await AssertRejected(builder.ToTarGz(), "total_too_large", "blob7.bin");
        Assert.Contains("16,777,217", ex.Message);
    }

    [Theory]
    [InlineData("keys/id_rsa", "id_rsa*")]
    [InlineData("id_ed25519.pub", "id_ed25519*")]
    [InlineData(".npmrc", ".npmrc")]
    [InlineData("certs/Server.PEM", "*.pem")]
    [InlineData("tls.key", "*.key")]
    [InlineData("config/credentials-prod.json", "credentials*.json")]
    public async Task Secret_looking_files_are_rejected(string path, string pattern)
    {
        var ex = await AssertRejected(WithSkillMd().File(path, "secret").ToTarGz(), "secret_file", path);
        Assert.Equal($"{path} looks like a secret ({pattern}); remove it from the skill folder.", ex.Message);
    }

    [Theory]
    [InlineData(".env")]
    [InlineData("config/.env.local")]
    [InlineData(".git/config")]
    [InlineData("scripts/node_modules/left-pad/index.js")]
    public async Task Files_the_cli_must_leave_out_are_rejected_in_uploads(string path)
    {
        var ex = await AssertRejected(WithSkillMd().File(path, "x").ToTarGz(), "excluded_file", path);
        Assert.Contains("CLI", ex.Message);
    }

    [Fact]
    public Task Excluded_folder_entry_is_rejected_in_uploads() =>
        AssertRejected(WithSkillMd().Directory("node_modules/").ToTarGz(), "excluded_file", "node_modules");

    [Fact]
    public Task Duplicate_path_is_rejected() =>
        AssertRejected(WithSkillMd().File("./SKILL.md", SkillMd).ToTarGz(), "duplicate_path", "SKILL.md");

    [Fact]
    public Task File_that_is_also_a_folder_is_rejected() =>
        AssertRejected(WithSkillMd().File("docs", "x").File("docs/a.md", "y").ToTarGz(), "path_conflict", "docs");

    [Fact]
    public async Task Not_a_gzip_is_rejected()
    {
        var ex = await AssertRejected("not a gzip"u8.ToArray(), "invalid_archive", null);
        Assert.Contains("not gzip", ex.Message);
    }

    [Fact]
    public Task Gzip_that_is_not_a_tar_is_rejected() =>
        AssertRejected(TarBuilder.Gzip(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("not a tar archive. ", 100)))), "invalid_archive", null);

    [Fact]
    public async Task Truncated_archive_is_rejected()
    {
        byte[] tgz = WithSkillMd().File("data.bin", RandomNumberGenerator.GetBytes(200_000)).ToTarGz();
        // GZipStream ends quietly at the cut, so the short entry is what gets reported.
        await AssertRejected(tgz[..(tgz.Length / 2)], "invalid_archive", "data.bin");
    }

    [Fact]
    public async Task Empty_input_is_rejected()
    {
        var ex = await Assert.ThrowsAsync<PackagingException>(() => Validate([]));
        Assert.True(ex.Rule is "invalid_archive" or "skill_md_missing", ex.Rule);
    }

    // ---------- bombs ----------

    [Fact]
    public async Task Gzip_bomb_is_refused_after_a_bounded_read()
    {
        byte[] bomb = TarBuilder.FolderHeaderBomb(); // 4 GiB of tar in ~4 MB of gzip

        var input = new CountingInput(bomb);
        var ex = await Assert.ThrowsAsync<PackagingException>(() => SkillArchive.ValidateAsync(input, PackagingLimits.Default));

        Assert.Equal("archive_too_large", ex.Rule);
        // ~20 MB of the 4 GiB were expanded: only a few of the 256 gzip members may have been consumed.
        Assert.True(input.BytesRead < bomb.Length / 32, $"read {input.BytesRead} of {bomb.Length} compressed bytes");
    }

    [Fact]
    public async Task Oversized_pax_header_is_refused_before_the_reader_buffers_it()
    {
        // TarReader buffers a whole pax header: without the guard this 1 GiB claim would allocate 1 GiB.
        byte[] tar = [.. TarBuilder.RawHeader("PaxHeaders/x", 'x', 1L << 30), .. new byte[64 * 1024]];
        long before = GC.GetTotalAllocatedBytes(precise: true);

        var ex = await AssertRejected(TarBuilder.Gzip(tar), "invalid_archive", null);

        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 256 * MiB);
        Assert.Contains("metadata", ex.Message);
    }

    [Fact]
    public async Task Pax_size_override_is_followed()
    {
        // A pax 'size' record overrides the ustar size field; the guard must follow it to stay in step with TarReader.
        byte[] content = Encoding.UTF8.GetBytes(new string('z', 1500));
        byte[] record = Encoding.ASCII.GetBytes("13 size=1500\n");
        byte[] tar = new TarBuilder(TarEntryFormat.Ustar).File("SKILL.md", SkillMd).ToTar()[..1024];
        using var b = new MemoryStream();
        b.Write(tar);
        b.Write(TarBuilder.RawHeader("PaxHeaders/big.txt", 'x', record.Length));
        b.Write(record);
        b.Write(new byte[512 - record.Length]);
        b.Write(TarBuilder.RawHeader("big.txt", '0', 0)); // size field says 0, pax says 1500
        b.Write(content);
        b.Write(new byte[512 - content.Length % 512 + 1024]);

        SkillPackage package = await Validate(TarBuilder.Gzip(b.ToArray()));

        Assert.Equal(new PackagedFile("big.txt", 1500, Sha(content)), package.Files[1]);
    }

    // ---------- GitHub repack ----------

    private const string Top = "acme-skills-abc1234/";

    private static byte[] GitHubTarball(Action<TarBuilder>? extra = null)
    {
        var b = new TarBuilder()
            .GlobalHeader("abc1234def5678abc1234def5678abc1234def56")
            .Directory(Top)
            .File(Top + "README.md", "repo readme")
            .Directory(Top + "skills/")
            .Directory(Top + "skills/foo/")
            .File(Top + "skills/foo/SKILL.md", SkillMd)
            .Directory(Top + "skills/foo/scripts/")
            .File(Top + "skills/foo/scripts/run.sh", "#!/bin/sh\necho hi\n")
            .File(Top + "skills/foo/" + LongPath, "long path content")
            .File(Top + "skills/foo/.git/config", "[core]")
            .Directory(Top + "skills/foo/node_modules/")
            .File(Top + "skills/foo/node_modules/left-pad/index.js", "module.exports = 1;")
            .Symlink(Top + "skills/foo/node_modules/.bin/left-pad", "../left-pad/index.js")
            .File(Top + "skills/foo/node_modules/left-pad/test.pem", "not a secret we keep")
            .File(Top + "skills/foo/.env.local", "TOKEN=secret")
            .File(Top + "skills/foobar/SKILL.md", "---\nname: foobar\ndescription: other\n---\n")
            .File(Top + "skills/bar/SKILL.md", "---\nname: bar\ndescription: other\n---\n")
            .Symlink(Top + "skills/bar/link", "../foo")
            .File(Top + "skills/bar/id_rsa", "not in our skill");
        extra?.Invoke(b);
        return b.ToTarGz();
    }

    private static async Task<(SkillPackage Package, byte[] Output)> Repack(byte[] tarball, string skillPath)
    {
        var output = new MemoryStream();
        SkillPackage package = await SkillArchive.RepackAsync(new CountingInput(tarball), skillPath, output, () => new MemoryStream(), PackagingLimits.Default);
        return (package, output.ToArray());
    }

    private static async Task<PackagingException> AssertRepackRejected(byte[] tarball, string skillPath, string rule, string? path)
    {
        var output = new MemoryStream();
        var ex = await Assert.ThrowsAsync<PackagingException>(() =>
            SkillArchive.RepackAsync(new CountingInput(tarball), skillPath, output, () => new MemoryStream(), PackagingLimits.Default));
        Assert.Equal(rule, ex.Rule);
        Assert.Equal(path, ex.FilePath);
        if (path is not null) Assert.Contains(path, ex.Message);
        Assert.Equal(0, output.Length); // nothing is written unless everything validated
        return ex;
    }

    [Fact]
    public async Task Repack_keeps_only_the_skill_folder_rerooted_and_skips_excluded_files()
    {
        (SkillPackage package, _) = await Repack(GitHubTarball(), "skills/foo");

        Assert.Equal(["SKILL.md", LongPath, "scripts/run.sh"], package.Files.Select(f => f.Path));
        Assert.Equal(new SkillFrontMatter("pdf-tools", "Extract text from PDF files."), package.Skill);
        Assert.Equal(Sha(Encoding.UTF8.GetBytes("#!/bin/sh\necho hi\n")), package.Files[2].Sha256);
    }

    [Theory]
    [InlineData("./skills/foo/")]
    [InlineData("skills/foo/")]
    public async Task Repack_accepts_equivalent_skill_path_spellings(string skillPath)
    {
        (SkillPackage package, _) = await Repack(GitHubTarball(), skillPath);
        Assert.Equal(3, package.Files.Count);
    }

    [Fact]
    public async Task Repack_of_a_skill_larger_than_its_spool_memory_writes_every_file_as_read()
    {
        // Three files of 700 KB: the spool moves from memory to its file in the middle of the second one.
        var random = new Random(7);
        var big = Enumerable.Range(0, 3).Select(_ => { var b = new byte[700 * 1024]; random.NextBytes(b); return b; }).ToList();
        var files = new List<(string Path, byte[] Content)> { ("SKILL.md", Encoding.UTF8.GetBytes("---\nname: foo\ndescription: Foo.\n---\n")) };
        files.AddRange(big.Select((b, i) => ($"data/part-{i}.bin", b)));
        using var tarball = new TarBuilder();
        tarball.Directory(Top);
        foreach (var (path, content) in files) tarball.File(Top + "skills/foo/" + path, content);
        var spools = 0;
        var output = new MemoryStream();

        await SkillArchive.RepackAsync(new CountingInput(tarball.ToTarGz()), "skills/foo", output, () => { spools++; return new MemoryStream(); }, PackagingLimits.Default);

        Assert.Equal(1, spools);
        using var reader = new TarReader(new GZipStream(new MemoryStream(output.ToArray()), CompressionMode.Decompress));
        var written = new List<(string, byte[])>();
        while (reader.GetNextEntry() is TarEntry entry)
        {
            using var content = new MemoryStream();
            entry.DataStream!.CopyTo(content);
            written.Add((entry.Name, content.ToArray()));
        }
        Assert.Equal(files.OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => (f.Path, f.Content)), written);
    }

    [Fact]
    public async Task Repack_of_a_small_skill_opens_no_spool()
    {
        var spools = 0;
        await SkillArchive.RepackAsync(new CountingInput(GitHubTarball()), "skills/foo", new MemoryStream(), () => { spools++; return new MemoryStream(); },
            PackagingLimits.Default);
        Assert.Equal(0, spools);
    }

    [Fact]
    public async Task Repack_output_is_a_deterministic_normalized_tarball()
    {
        (SkillPackage package, byte[] output) = await Repack(GitHubTarball(), "skills/foo");

        using var reader = new TarReader(new GZipStream(new MemoryStream(output), CompressionMode.Decompress));
        var names = new List<string>();
        while (reader.GetNextEntry() is TarEntry entry)
        {
            names.Add(entry.Name);
            Assert.Equal(TarEntryType.RegularFile, entry.EntryType);
            Assert.Equal(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero), entry.ModificationTime);
            Assert.Equal(0, entry.Uid);
            Assert.Equal(0, entry.Gid);
            Assert.Equal((UnixFileMode)0b110_100_100, entry.Mode);
            var posix = Assert.IsAssignableFrom<PosixTarEntry>(entry);
            Assert.Equal("", posix.UserName);
            Assert.Equal("", posix.GroupName);
        }
        Assert.Equal(package.Files.Select(f => f.Path), names);
    }

    [Fact]
    public async Task Repacking_the_same_input_twice_gives_identical_bytes()
    {
        byte[] tarball = GitHubTarball();
        (_, byte[] first) = await Repack(tarball, "skills/foo");
        await Task.Delay(1100); // a different wall-clock second must not leak into the output
        (_, byte[] second) = await Repack(tarball, "skills/foo");
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Validating_the_repacked_output_gives_the_same_manifest()
    {
        (SkillPackage repacked, byte[] output) = await Repack(GitHubTarball(), "skills/foo");
        SkillPackage validated = await Validate(output);

        Assert.Equal(repacked.Files, validated.Files);
        Assert.Equal(repacked.Skill, validated.Skill);
        Assert.Equal(repacked.SkillMarkdown, validated.SkillMarkdown);
        Assert.Equal(repacked.TotalSize, validated.TotalSize);
    }

    [Fact]
    public async Task Repack_of_repository_root_skill()
    {
        byte[] tarball = new TarBuilder()
            .Directory(Top)
            .File(Top + "SKILL.md", SkillMd)
            .File(Top + "scripts/a.py", "a")
            .File(Top + ".git/HEAD", "ref")
            .File(Top + ".env", "X=1")
            .ToTarGz(); // no pax global header this time

        (SkillPackage package, _) = await Repack(tarball, ".");

        Assert.Equal(["SKILL.md", "scripts/a.py"], package.Files.Select(f => f.Path));
    }

    [Fact]
    public async Task Repack_rejects_symlink_inside_the_skill_naming_its_repository_path()
    {
        var ex = await AssertRepackRejected(GitHubTarball(b => b.Symlink(Top + "skills/foo/data", "/etc")), "skills/foo", "unsupported_entry", "skills/foo/data");
        Assert.Contains("symbolic link", ex.Message);
    }

    [Fact]
    public Task Repack_rejects_secret_inside_the_skill() =>
        AssertRepackRejected(GitHubTarball(b => b.File(Top + "skills/foo/keys/id_rsa", "k")), "skills/foo", "secret_file", "skills/foo/keys/id_rsa");

    [Fact]
    public Task Repack_rejects_path_escape_after_stripping_the_top_folder() =>
        AssertRepackRejected(GitHubTarball(b => b.Raw(Top + "skills/foo/../../x", "x"u8.ToArray())), "skills/foo", "unsafe_path", "skills/foo/../../x");

    [Fact]
    public Task Repack_rejects_entries_outside_the_top_folder() =>
        AssertRepackRejected(GitHubTarball(b => b.File("other-top/x", "x")), "skills/foo", "invalid_archive", "other-top/x");

    [Fact]
    public async Task Repack_of_missing_skill_path_names_the_expected_skill_md()
    {
        var ex = await AssertRepackRejected(GitHubTarball(), "skills/nope", "skill_md_missing", "skills/nope/SKILL.md");
        Assert.Contains("no files under skills/nope/", ex.Message);
    }

    [Fact]
    public Task Repack_rejects_skill_path_that_escapes_the_repository() =>
        AssertRepackRejected(GitHubTarball(), "../x", "invalid_skill_path", "../x");

    [Fact]
    public Task Repack_rejects_skill_path_that_is_a_symlink() =>
        AssertRepackRejected(GitHubTarball(), "skills/bar/link", "invalid_skill_path", "skills/bar/link");

    [Fact]
    public Task Repack_rejects_bad_front_matter_naming_the_repository_path() =>
        AssertRepackRejected(
            new TarBuilder().Directory(Top).File(Top + "s/SKILL.md", "---\ndescription: d\n---\n").ToTarGz(),
            "s", "skill_md_missing_name", "s/SKILL.md");

    [Fact]
    public Task Repack_rejects_garbage() =>
        AssertRepackRejected("<html>rate limited</html>"u8.ToArray(), "skills/foo", "invalid_archive", null);
}
