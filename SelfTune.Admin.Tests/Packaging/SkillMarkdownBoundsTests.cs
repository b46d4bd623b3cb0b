using System.Diagnostics;
using System.Text;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.Tests.Packaging;

/// <summary>
/// Hostile SKILL.md front matter is refused before a YAML tree is built: deep nesting used to overflow the stack in
/// YamlStream.Load, which ends the process (a StackOverflowException cannot be caught).
/// </summary>
public class SkillMarkdownBoundsTests
{
    private static Task<SkillPackage> Validate(string skillMd) =>
        SkillArchive.ValidateAsync(new CountingInput(new TarBuilder().File("SKILL.md", skillMd).ToTarGz()), PackagingLimits.Default);

    private static async Task<PackagingException> AssertRefused(string skillMd, string rule, string namedRule)
    {
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<PackagingException>(() => Validate(skillMd));
        Assert.Equal(rule, ex.Rule);
        Assert.Equal("SKILL.md", ex.FilePath);
        Assert.StartsWith("SKILL.md front matter ", ex.Message);
        Assert.Contains(namedRule, ex.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        return ex;
    }

    private static string FrontMatter(string yaml) => $"---\n{yaml}---\n# Body\n";

    private static string Repeat(string s, int times) => new StringBuilder(s.Length * times).Insert(0, s, times).ToString();

    /// <summary>Nesting only: each kind stays under the 64 KiB size bound, so the depth bound is what must catch it.</summary>
    public static TheoryData<string, string> DeepDocuments => new()
    {
        { "flow sequences", "description: " + new string('[', 30_000) + new string(']', 30_000) + "\n" },
        { "flow mappings", "description: " + new string('{', 30_000) + new string('}', 30_000) + "\n" },
        { "flow mappings with keys", "description: " + Repeat("{a: ", 12_000) + "x" + new string('}', 12_000) + "\n" },
        { "block sequences", "description:\n" + Repeat("- ", 30_000) + "x\n" },
        { "block mappings", "description:\n" + string.Concat(Enumerable.Range(1, 300).Select(i => new string(' ', i) + "a:\n")) + new string(' ', 301) + "x\n" },
        { "unclosed flow sequences", "description: " + new string('[', 30_000) + "\n" },
    };

    [Theory]
    [MemberData(nameof(DeepDocuments))]
    public async Task Deep_nesting_is_refused_without_building_the_tree(string kind, string yaml)
    {
        Assert.True(Encoding.UTF8.GetByteCount(yaml) <= 64 * 1024, kind);

        await AssertRefused(FrontMatter("name: deep\n" + yaml), "skill_md_nesting_too_deep", "more than 32 levels deep");
    }

    [Fact]
    public async Task Fifty_thousand_brackets_are_refused_by_size()
    {
        // The 80 KB document of issue 8: 50,000 '[' then 50,000 ']'.
        string skillMd = FrontMatter("name: deep\ndescription: " + new string('[', 50_000) + new string(']', 50_000) + "\n");

        var ex = await AssertRefused(skillMd, "skill_md_front_matter_too_large", "64 KiB");
        Assert.Contains("100,025 bytes", ex.Message);
    }

    [Fact]
    public async Task Nesting_of_exactly_32_levels_is_accepted_and_33_is_refused()
    {
        // The top-level mapping is level 1. Not under 'metadata', which the Agent Skills specification makes a map of strings.
        string Nested(int levels) => "name: ok\ndescription: fine\nnested: " + new string('[', levels - 1) + new string(']', levels - 1) + "\n";

        SkillPackage package = await Validate(FrontMatter(Nested(32)));
        Assert.Equal("ok", package.Skill.Name);

        await AssertRefused(FrontMatter(Nested(33)), "skill_md_nesting_too_deep", "(line 4)");
    }

    [Theory]
    [InlineData("name: x\ndescription: &d Does things.\n")]
    [InlineData("name: x\ndescription: Does things.\nmetadata: *d\n")]
    [InlineData("name: x\ndescription: Does things.\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n")]
    public Task Anchors_and_aliases_are_refused(string yaml) =>
        AssertRefused(FrontMatter(yaml), "skill_md_yaml_anchor", "anchor or alias");

    [Fact]
    public async Task More_than_10_000_values_are_refused()
    {
        // 2 bytes a value: 32,000 of them fit in 64 KiB.
        string yaml = "name: x\ndescription: d\nmetadata: [" + string.Join(',', Enumerable.Repeat("a", 10_000)) + "]\n";

        await AssertRefused(FrontMatter(yaml), "skill_md_too_many_nodes", "10,000");
    }

    [Fact]
    public async Task Name_and_description_at_their_spec_lengths_are_accepted()
    {
        string name = new('a', 64);
        string description = string.Concat(Enumerable.Repeat("\U0001F4C4", 1024)); // 1,024 code points, 2,048 UTF-16 chars

        SkillPackage package = await Validate(FrontMatter($"name: {name}\ndescription: {description}\n"));

        Assert.Equal(new SkillFrontMatter(name, description), package.Skill);
    }

    [Fact]
    public Task Name_of_65_characters_is_refused() =>
        AssertRefused(FrontMatter($"name: {new string('a', 65)}\ndescription: d\n"), "skill_md_name_too_long", "at most 64");

    [Fact]
    public Task Description_of_1025_characters_is_refused() =>
        AssertRefused(FrontMatter($"name: x\ndescription: {new string('d', 1025)}\n"), "skill_md_description_too_long", "at most 1,024");

    [Fact]
    public Task Name_of_1_MiB_is_refused() =>
        AssertRefused(FrontMatter($"name: {new string('n', 1024 * 1024)}\ndescription: d\n"), "skill_md_front_matter_too_large", "64 KiB");

    [Fact]
    public async Task Github_repack_applies_the_same_bounds()
    {
        // Pull-request validation and publishing repack GitHub tarballs through the same parser.
        byte[] tarball = new TarBuilder()
            .Directory("acme-skills-abc1234/")
            .File("acme-skills-abc1234/skills/deep/SKILL.md", FrontMatter("name: deep\ndescription: " + new string('{', 30_000) + new string('}', 30_000) + "\n"))
            .ToTarGz();

        var ex = await Assert.ThrowsAsync<PackagingException>(() =>
            SkillArchive.RepackAsync(new CountingInput(tarball), "skills/deep", new MemoryStream(), () => new MemoryStream(), PackagingLimits.Default));

        Assert.Equal("skill_md_nesting_too_deep", ex.Rule);
        Assert.StartsWith("skills/deep/SKILL.md front matter", ex.Message);
    }
}
