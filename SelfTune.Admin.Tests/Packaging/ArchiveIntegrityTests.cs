using System.Text;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.Tests.Packaging;

/// <summary>
/// Issue 8, item 7: the checks went only as far as the tar's end-of-archive block. Whatever came after it (a broken gzip
/// trailer, trailing bytes, gigabytes of zeros) was never read, so such archives were accepted, stored and served.
/// </summary>
public class ArchiveIntegrityTests
{
    private const string SkillMd = "---\nname: pdf-tools\ndescription: Extract text from PDF files.\n---\n# PDF tools\n";
    private const int MiB = 1024 * 1024;

    /// <summary>A gzip member of no data (GZipStream writes nothing at all for an empty input).</summary>
    private static readonly byte[] EmptyMember = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];

    private static byte[] SkillTar() => new TarBuilder().File("SKILL.md", SkillMd).File("scripts/run.sh", "echo hi\n").ToTar();

    private static Task<SkillPackage> Validate(byte[] tarGz, PackagingLimits? limits = null) =>
        SkillArchive.ValidateAsync(new CountingInput(tarGz), limits ?? PackagingLimits.Default);

    private static async Task<PackagingException> AssertRefused(byte[] tarGz, string rule, string inMessage, PackagingLimits? limits = null)
    {
        var ex = await Assert.ThrowsAsync<PackagingException>(() => Validate(tarGz, limits));
        Assert.Equal(rule, ex.Rule);
        Assert.Contains(inMessage, ex.Message);
        return ex;
    }

    // ---------- the gzip stream is verified to its end ----------

    [Fact]
    public async Task Valid_archive_is_still_accepted()
    {
        SkillPackage package = await Validate(TarBuilder.Gzip(SkillTar()));
        Assert.Equal(["SKILL.md", "scripts/run.sh"], package.Files.Select(f => f.Path));
    }

    [Theory]
    [InlineData(8, "CRC-32")]  // first byte of the CRC-32
    [InlineData(1, "length")]  // last byte of ISIZE, the uncompressed length
    public async Task Broken_gzip_trailer_is_refused(int fromEnd, string check)
    {
        byte[] tgz = TarBuilder.Gzip(SkillTar());
        tgz[^fromEnd] ^= 0x01;

        var ex = await AssertRefused(tgz, "invalid_archive", "gzip data is corrupt");
        Assert.Contains(check, ex.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(8)]
    public Task Cut_off_gzip_trailer_is_refused(int cut) =>
        AssertRefused(TarBuilder.Gzip(SkillTar())[..^cut], "invalid_archive", "ends unexpectedly");

    public static TheoryData<string, byte[]> TrailingBytes => new()
    {
        { "text", "trailing garbage"u8.ToArray() },
        { "zeros", new byte[512] },
        { "one NUL", [0] },
        { "half a gzip magic", [0x1F] },
        { "a gzip magic", [0x1F, 0x8B] },
        { "a cut-off gzip member", TarBuilder.Gzip("more"u8.ToArray())[..12] },
    };

    [Theory]
    [MemberData(nameof(TrailingBytes))]
    public async Task Bytes_after_the_gzip_stream_are_refused(string kind, byte[] trailing)
    {
        var ex = await Assert.ThrowsAsync<PackagingException>(() => Validate([.. TarBuilder.Gzip(SkillTar()), .. trailing]));

        Assert.True(ex.Rule == "invalid_archive", $"{kind}: {ex.Rule}");
        // A member cut short may also decompress to a few bytes, which then follow the tar's end.
        Assert.True(ex.Message.Contains("data follows the end of") || ex.Message.Contains("ends unexpectedly"), $"{kind}: {ex.Message}");
    }

    [Fact]
    public async Task Concatenated_gzip_members_are_one_stream()
    {
        // RFC 1952 allows several members; tools like pigz --independent or bgzip write them.
        byte[] tar = SkillTar();
        byte[] twoMembers = [.. TarBuilder.Gzip(tar[..700]), .. TarBuilder.Gzip(tar[700..]), .. EmptyMember];

        SkillPackage package = await Validate(twoMembers);

        Assert.Equal((await Validate(TarBuilder.Gzip(tar))).Files, package.Files);
    }

    [Fact]
    public Task Broken_crc_in_a_middle_member_is_refused()
    {
        byte[] tar = SkillTar();
        byte[] first = TarBuilder.Gzip(tar[..700]);
        first[^8] ^= 0x01;

        return AssertRefused([.. first, .. TarBuilder.Gzip(tar[700..])], "invalid_archive", "CRC-32");
    }

    // ---------- what follows the tar's end counts and is checked ----------

    [Fact]
    public async Task Zero_padding_after_the_tar_end_is_accepted()
    {
        // tar writes its output in 10 KiB records, so zeros after the end-of-archive blocks are normal.
        SkillPackage package = await Validate(TarBuilder.Gzip([.. SkillTar(), .. new byte[MiB]]));
        Assert.Equal(2, package.Files.Count);
    }

    [Fact]
    public async Task Four_GiB_of_zeros_after_the_tar_end_are_refused_after_a_bounded_read()
    {
        // SKILL.md, the end-of-archive blocks, then 4 GiB of zeros: 256 gzip members of 16 MiB (about 4 MB compressed).
        byte[] bomb = [.. TarBuilder.Gzip(SkillTar()), .. TarBuilder.RepeatedGzipMember(new byte[16 * MiB], 256)];
        var input = new CountingInput(bomb);

        var ex = await Assert.ThrowsAsync<PackagingException>(() => SkillArchive.ValidateAsync(input, PackagingLimits.Default));

        Assert.Equal("archive_too_large", ex.Rule);
        Assert.Contains("compression bomb", ex.Message);
        Assert.True(input.BytesRead < bomb.Length / 32, $"read {input.BytesRead} of {bomb.Length} compressed bytes");
    }

    [Fact]
    public async Task An_entry_hidden_after_the_tar_end_is_refused()
    {
        // TarReader stops at the end-of-archive block; GNU tar --ignore-zeros would go on and find this entry.
        byte[] hidden = new TarBuilder().File("keys/id_rsa", "secret").ToTar();

        var ex = await AssertRefused(TarBuilder.Gzip([.. SkillTar(), .. hidden]), "invalid_archive", "data follows the end of the tar archive");
        Assert.DoesNotContain("id_rsa", ex.Message);
    }

    [Fact]
    public Task Header_without_a_checksum_is_not_taken_as_the_end() =>
        // TarReader would take a header whose checksum field is empty as the end of the archive and stop reading.
        AssertRefused(TarBuilder.Gzip([.. SkillTar()[..^1024], .. UncheckedHeader("keys/id_rsa"), .. new byte[1024]]),
            "invalid_archive", "no checksum");

    private static byte[] UncheckedHeader(string name)
    {
        byte[] header = TarBuilder.RawHeader(name, '0', 0);
        header.AsSpan(148, 8).Clear();
        return header;
    }

    [Fact]
    public Task Compressed_input_is_bounded_too()
    {
        // Empty gzip members expand to nothing, so only a bound on the compressed bytes ends them.
        var small = new PackagingLimits(MaxFiles: 4, MaxFileBytes: 1024, MaxTotalBytes: 4096); // 86,016-byte budget
        byte[] input = [.. TarBuilder.Gzip(SkillTar()), .. Enumerable.Range(0, 100_000 / EmptyMember.Length).SelectMany(_ => EmptyMember)];

        return AssertRefused(input, "archive_too_large", "compressed", small);
    }

    [Fact]
    public async Task Github_repack_reads_the_tarball_to_its_end_too()
    {
        byte[] tarball = new TarBuilder().Directory("acme-skills-abc1234/").File("acme-skills-abc1234/SKILL.md", SkillMd).ToTarGz();
        byte[] corrupt = [.. tarball];
        corrupt[^8] ^= 0x01;
        var output = new MemoryStream();

        var ex = await Assert.ThrowsAsync<PackagingException>(() =>
            SkillArchive.RepackAsync(new CountingInput(corrupt), ".", output, () => new MemoryStream(), PackagingLimits.Default));

        Assert.Equal("invalid_archive", ex.Rule);
        Assert.Contains("GitHub tarball", ex.Message);
        Assert.Equal(0, output.Length);
        Assert.Single((await SkillArchive.RepackAsync(new CountingInput(tarball), ".", new MemoryStream(), () => new MemoryStream(), PackagingLimits.Default)).Files);
    }
}
