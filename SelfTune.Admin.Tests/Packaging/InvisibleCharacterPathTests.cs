using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.Tests.Packaging;

/// <summary>
/// Issue 8, item 11: file names with bidi or other invisible format characters, or control characters beyond ASCII's,
/// were accepted. A right-to-left override shows "evil\u202Etxt.exe" as "evilexe.txt". Refusals name the path with
/// such characters escaped, so the message itself cannot be reordered or hide them.
/// </summary>
public class InvisibleCharacterPathTests
{
    private const string SkillMd = "---\nname: pdf-tools\ndescription: Extract text from PDF files.\n---\n";

    public static TheoryData<int> RefusedCodePoints => new()
    {
        0x202A, 0x202B, 0x202C, 0x202D, 0x202E, // bidi embeddings and overrides
        0x2066, 0x2067, 0x2068, 0x2069,         // bidi isolates
        0x200E, 0x200F, 0x061C,                 // bidi marks
        0x200B, 0x2060, 0xFEFF, 0x00AD,         // zero-width space, word joiner, BOM, soft hyphen
        0x2028, 0x2029,                         // line and paragraph separators
        0x0085, 0x009B,                         // C1 controls: next line, control sequence introducer
        0x001B, 0x000A, 0x007F,                 // escape, newline, delete
        0xE0041,                                // a tag character, outside the BMP
    };

    private static string Escaped(int codePoint) => codePoint <= 0xFFFF ? $"\\u{codePoint:X4}" : $"\\U{codePoint:X8}";

    [Theory]
    [MemberData(nameof(RefusedCodePoints))]
    public async Task A_file_name_with_an_invisible_or_control_character_is_refused_naming_it_escaped(int codePoint)
    {
        string ch = char.ConvertFromUtf32(codePoint);
        string name = $"docs/evil{ch}txt.exe";
        var tar = new TarBuilder().File("SKILL.md", SkillMd);
        // ASCII controls go in a plain ustar header: TarReader cannot read a newline inside a pax record.
        byte[] tgz = (codePoint < 0x80 ? tar.Raw(name, "x"u8.ToArray()) : tar.File(name, "x")).ToTarGz();

        var ex = await Assert.ThrowsAsync<PackagingException>(() => SkillArchive.ValidateAsync(new CountingInput(tgz), PackagingLimits.Default));

        Assert.Equal("unsafe_path", ex.Rule);
        Assert.Equal(name, ex.FilePath);
        Assert.StartsWith($"\"docs/evil{Escaped(codePoint)}txt.exe\" is not a safe path", ex.Message);
        Assert.Contains($"U+{codePoint:X4}", ex.Message);
        Assert.DoesNotContain(ch, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("docs/日本語.md")]
    [InlineData("docs/مرحبا.md")]        // right-to-left letters are visible text, not controls
    [InlineData("docs/notes 📄.md")]
    [InlineData("docs/café-naïve.md")]
    public async Task Ordinary_unicode_names_are_accepted(string name)
    {
        byte[] tgz = new TarBuilder().File("SKILL.md", SkillMd).File(name, "x").ToTarGz();

        SkillPackage package = await SkillArchive.ValidateAsync(new CountingInput(tgz), PackagingLimits.Default);

        Assert.Contains(package.Files, f => f.Path == name);
    }

    [Fact]
    public async Task Repack_names_the_repository_path_escaped()
    {
        const string top = "acme-skills-abc1234/";
        byte[] tarball = new TarBuilder().Directory(top).File(top + "skills/foo/SKILL.md", SkillMd).File(top + "skills/foo/a\u2067b.sh", "x").ToTarGz();

        var ex = await Assert.ThrowsAsync<PackagingException>(() =>
            SkillArchive.RepackAsync(new CountingInput(tarball), "skills/foo", new MemoryStream(), () => new MemoryStream(), PackagingLimits.Default));

        Assert.Equal("unsafe_path", ex.Rule);
        Assert.StartsWith("\"skills/foo/a\\u2067b.sh\" is not a safe path", ex.Message);
    }

    [Fact]
    public async Task Skill_path_with_an_override_is_refused_escaped()
    {
        var ex = await Assert.ThrowsAsync<PackagingException>(() =>
            SkillArchive.RepackAsync(new CountingInput(new TarBuilder().ToTarGz()), "skills/\u202Efoo", new MemoryStream(), () => new MemoryStream(), PackagingLimits.Default));

        Assert.Equal("invalid_skill_path", ex.Rule);
        Assert.Contains("\"skills/\\u202Efoo\"", ex.Message);
        Assert.DoesNotContain("\u202E", ex.Message, StringComparison.Ordinal);
    }
}
