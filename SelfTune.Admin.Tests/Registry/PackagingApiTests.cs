using System.Diagnostics;
using System.Net;
using System.Text.Json;
using SelfTune.Admin.Tests.Infrastructure;
using SelfTune.Admin.Tests.Packaging;
using static SelfTune.Admin.Tests.Registry.RegistryApiClient;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>
/// Every packaging rule seen through the API: a push of a bad archive is 422 <c>invalid_skill</c> whose detail names the
/// file, nothing is stored, and no staging file is left behind. (The rules themselves are unit-tested in Tests/Packaging.)
/// </summary>
public class PackagingApiTests(AdminAppFactory factory) : IClassFixture<AdminAppFactory>, IAsyncLifetime
{
    const int MiB = 1024 * 1024;
    HttpClient Acme => factory.CreateClient(factory.DevelopmentKey);
    string entryId = null!;

    public async Task InitializeAsync() =>
        entryId = (await CreateEntryAsync(Acme, UniqueName("pkg"))).GetProperty("id").GetString()!;

    public Task DisposeAsync() => Task.CompletedTask;

    static TarBuilder Skill() => new TarBuilder().File("SKILL.md", SkillMd);

    async Task<JsonElement> AssertRejectedAsync(byte[] archive, string? namedInDetail)
    {
        var response = await Acme.PostAsync($"/api/v1/registry/{entryId}/versions", Multipart(new { version = "1.0.0" }, archive));

        var problem = await ExpectProblemAsync(response, HttpStatusCode.UnprocessableEntity, "invalid_skill");
        var detail = problem.GetProperty("detail").GetString()!;
        if (namedInDetail is not null) Assert.Contains(namedInDetail, detail);
        Assert.Equal(["archive"], ErrorFields(problem));
        Assert.Equal(detail, problem.GetProperty("errors").GetProperty("archive")[0].GetString());

        // Nothing stored: no version, no archive file, no leftover staging file.
        var versions = await ExpectJsonAsync(await Acme.GetAsync($"/api/v1/registry/{entryId}/versions"), HttpStatusCode.OK);
        Assert.Equal(0, versions.GetProperty("versions").GetArrayLength());
        var archives = Path.Combine(factory.DataPath, "archives");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(archives, "staging")));
        var hash = Sha256Hex(archive);
        Assert.False(File.Exists(Path.Combine(archives, "sha256", hash[..2], hash + ".tar.gz")), "the refused archive was stored");
        return problem;
    }

    [Fact]
    public Task Path_escaping_the_skill_folder() =>
        AssertRejectedAsync(Skill().Raw("../x", "escape"u8.ToArray()).ToTarGz(), "../x");

    [Fact]
    public Task Absolute_path() =>
        AssertRejectedAsync(Skill().Raw("/etc/x", "absolute"u8.ToArray()).ToTarGz(), "/etc/x");

    [Fact]
    public async Task Right_to_left_override_in_a_file_name()
    {
        var problem = await AssertRejectedAsync(Skill().File("docs/evil\u202Etxt.exe", "x").ToTarGz(), "docs/evil\\u202Etxt.exe");
        Assert.DoesNotContain("\u202E", problem.GetProperty("detail").GetString()!, StringComparison.Ordinal);
    }

    [Fact]
    public Task Symlink() =>
        AssertRejectedAsync(Skill().Symlink("docs/link", "../../etc/passwd").ToTarGz(), "docs/link");

    [Fact]
    public Task Hard_link() =>
        AssertRejectedAsync(Skill().HardLink("copy.md", "SKILL.md").ToTarGz(), "copy.md");

    [Fact]
    public Task Device_file() =>
        AssertRejectedAsync(Skill().CharDevice("dev/null").ToTarGz(), "dev/null");

    [Fact]
    public async Task Missing_skill_md()
    {
        var problem = await AssertRejectedAsync(new TarBuilder().File("README.md", "no skill").ToTarGz(), "SKILL.md");
        Assert.DoesNotContain("README.md", ErrorFields(problem));
    }

    [Fact]
    public async Task Front_matter_without_name()
    {
        var problem = await AssertRejectedAsync(new TarBuilder().File("SKILL.md", "---\ndescription: Nameless.\n---\n# x\n").ToTarGz(), "SKILL.md");
        Assert.Contains("'name'", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task More_than_1024_files()
    {
        var builder = Skill();
        for (int i = 1; i <= 1024; i++) builder.File($"files/{i:D4}.txt", "x");

        var problem = await AssertRejectedAsync(builder.ToTarGz(), "files/1024.txt");
        Assert.Contains("1,024", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task File_of_2_MiB_plus_one_byte()
    {
        var problem = await AssertRejectedAsync(Skill().Zeros("data/big.bin", 2 * MiB + 1).ToTarGz(), "data/big.bin");
        Assert.Contains("2 MiB", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Total_of_16_MiB_plus_one_byte()
    {
        // Every file within the 2 MiB limit, 16 MiB + 1 byte in all; zeros keep the upload small (the limit is on content).
        int skillMd = System.Text.Encoding.UTF8.GetByteCount(SkillMd);
        var builder = Skill();
        for (int i = 0; i < 7; i++) builder.Zeros($"blob{i}.bin", 2 * MiB);
        builder.Zeros("last.bin", 2 * MiB - skillMd + 1);

        var problem = await AssertRejectedAsync(builder.ToTarGz(), "last.bin");
        Assert.Contains("16 MiB", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("keys/id_rsa")]
    [InlineData(".npmrc")]
    [InlineData("certs/server.pem")]
    [InlineData("credentials-prod.json")]
    public Task Secret_files(string path) =>
        AssertRejectedAsync(Skill().File(path, "secret").ToTarGz(), path);

    [Theory]
    [InlineData(".env")]
    [InlineData(".git/config")]
    [InlineData("node_modules/x/index.js")]
    public Task Excluded_files(string path) =>
        AssertRejectedAsync(Skill().File(path, "excluded").ToTarGz(), path);

    [Fact]
    public Task Not_gzip_data() =>
        AssertRejectedAsync("this is not a tar.gz"u8.ToArray(), "gzip");

    [Fact]
    public Task Empty_archive_part() =>
        AssertRejectedAsync([], "empty");

    [Fact]
    public Task Gzip_whose_crc_does_not_match()
    {
        // The CRC-32 sits in the gzip trailer, after the tar's end-of-archive blocks: it is checked only when read to the end.
        byte[] archive = Skill().ToTarGz();
        archive[^8] ^= 0x01;
        return AssertRejectedAsync(archive, "CRC-32");
    }

    [Fact]
    public Task Data_after_the_gzip_stream() =>
        AssertRejectedAsync([.. Skill().ToTarGz(), .. "trailing garbage"u8.ToArray()], "data follows the end of its gzip stream");

    [Fact]
    public async Task Tar_gz_bomb_is_refused_quickly()
    {
        byte[] bomb = TarBuilder.FolderHeaderBomb(); // 4 GiB of tar in a few MB of gzip
        Assert.True(bomb.Length < 30 * MiB);

        var clock = Stopwatch.StartNew();
        var problem = await AssertRejectedAsync(bomb, null);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Contains("compression bomb", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_valid_archive_is_accepted_after_rejections()
    {
        // The same entry, after refusals, still takes a good push (refusals leave no half-written state).
        await AssertRejectedAsync(Skill().File(".npmrc", "token").ToTarGz(), ".npmrc");
        var archive = Skill().File("ok.txt", "fine").ToTarGz();

        var version = await PushAsync(Acme, entryId, "1.0.0", archive);

        Assert.Equal(Sha256Hex(archive), version.GetProperty("content_hash").GetString());
    }
}
