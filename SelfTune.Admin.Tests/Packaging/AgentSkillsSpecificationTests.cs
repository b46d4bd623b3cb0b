using System.Text.Json;
using System.Text.RegularExpressions;
using SelfTune.Admin.Registry.Packaging;

namespace SelfTune.Admin.Tests.Packaging;

/// <summary>
/// The packaging validator against the Agent Skills specification (shared/agentskills/specification.mdx) and the
/// reference validator's cases (shared/agentskills/validator-cases.json, from agentskills' skills-ref).
/// </summary>
public class AgentSkillsSpecificationTests
{
    private const string Top = "acme-skills-abc1234/";
    private const string UnicodeNames =
        "Unicode names: skills-ref accepts any lowercase letter, the specification text says a-z and 0-9; we refuse, " +
        "since names are typed in the CLI and shown in URLs where look-alike letters would be two names that read the same";

    /// <summary>Our outcome for a case where we decided otherwise than skills-ref (see README, "Agent Skills specification").</summary>
    private sealed record Decision(bool Accepted, string Rule, string Why);

    private static readonly Dictionary<string, Decision> Decided = new()
    {
        ["i18n_chinese"] = new(false, "skill_md_invalid_name", UnicodeNames),
        ["i18n_russian_hyphen"] = new(false, "skill_md_invalid_name", UnicodeNames),
        ["nfkc"] = new(false, "skill_md_invalid_name", UnicodeNames),
        ["lowercase_skill_md_filename"] = new(false, "skill_md_missing",
            "the specification names the file SKILL.md; we refuse skill.md with a hint instead of guessing between variants"),
        ["unexpected_field"] = new(true, "skill_md_unknown_keys",
            "unknown keys: real skills carry extra keys, so they are a warning beside the package, not a refusal"),
        ["dir_mismatch"] = new(true, "skill_name_differs_from_folder",
            "a name that differs from its folder is a warning: users install the registry entry, not the folder"),
    };

    private static readonly Lazy<Dictionary<string, JsonElement>> Cases = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(CasesFile(dir.FullName))) dir = dir.Parent;
        if (dir is null) throw new FileNotFoundException("shared/agentskills/validator-cases.json is not beside the repository (CI and sessions place it there).");
        using var json = JsonDocument.Parse(File.ReadAllText(CasesFile(dir.FullName)));
        return json.RootElement.GetProperty("cases").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!, c => c.Clone());
    });

    private static string CasesFile(string folder) => Path.Combine(folder, "shared", "agentskills", "validator-cases.json");

    public static TheoryData<string> CaseIds => [.. Cases.Value.Keys];

    [Fact]
    public void Every_decided_case_exists_in_the_reference_cases() =>
        Assert.All(Decided.Keys, id => Assert.Contains(id, Cases.Value.Keys));

    [Theory]
    [MemberData(nameof(CaseIds))]
    public async Task Reference_validator_case(string id)
    {
        JsonElement c = Cases.Value[id];
        string dir = c.GetProperty("dir").GetString()!;
        string skillMdPath = $"{dir}/SKILL.md";
        var tarball = new TarBuilder().Directory(Top).File(Top + dir + "/README.md", "readme");
        if (SkillMd(c) is { } text)
            tarball.File(Top + dir + "/" + (c.TryGetProperty("file_name", out var f) ? f.GetString() : "SKILL.md"), text);

        Decided.TryGetValue(id, out Decision? decided);
        bool accepted = decided?.Accepted ?? c.GetProperty("valid").GetBoolean();

        if (!accepted)
        {
            var ex = await Assert.ThrowsAsync<PackagingException>(() => Repack(tarball, dir));
            if (decided is not null) Assert.Equal(decided.Rule, ex.Rule);
            Assert.Equal(skillMdPath, ex.FilePath);
            Assert.Contains(skillMdPath, ex.Message);
            return;
        }

        SkillPackage package = await Repack(tarball, dir);
        if (decided is not null)
        {
            PackagingWarning warning = Assert.Single(package.Warnings);
            Assert.Equal(decided.Rule, warning.Rule);
            Assert.Contains(skillMdPath, warning.Message);
        }
        else
        {
            Assert.Empty(package.Warnings);
        }
        if (c.TryGetProperty("expect_metadata", out JsonElement metadata))
            Assert.Equal(metadata.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!), package.Skill.Metadata);
    }

    private static string? SkillMd(JsonElement c)
    {
        if (c.TryGetProperty("skill_md_template", out JsonElement template))
            return Regex.Replace(template.GetString()!, @"\{(.)\*(\d+)\}", m => new string(m.Groups[1].Value[0], int.Parse(m.Groups[2].Value)));
        JsonElement text = c.GetProperty("skill_md");
        return text.ValueKind == JsonValueKind.Null ? null : text.GetString();
    }

    private static Task<SkillPackage> Repack(TarBuilder tarball, string skillPath) =>
        SkillArchive.RepackAsync(new CountingInput(tarball.ToTarGz()), skillPath, new MemoryStream(), () => new MemoryStream(), PackagingLimits.Default);

    // ---------- rules the reference cases do not reach ----------

    private static Task<SkillPackage> Upload(string frontMatter) =>
        SkillArchive.ValidateAsync(new CountingInput(new TarBuilder().File("SKILL.md", $"---\n{frontMatter}---\nBody\n").ToTarGz()), PackagingLimits.Default);

    private static async Task AssertRefused(string frontMatter, string rule, string words)
    {
        var ex = await Assert.ThrowsAsync<PackagingException>(() => Upload(frontMatter));
        Assert.Equal(rule, ex.Rule);
        Assert.Equal("SKILL.md", ex.FilePath);
        Assert.StartsWith("SKILL.md front matter", ex.Message);
        Assert.Contains(words, ex.Message);
    }

    [Theory]
    [InlineData("my-skill-", "must not start or end with a hyphen")]
    [InlineData("PDF-Processing", "must be lowercase")]
    [InlineData("pdf--processing", "two hyphens in a row")]
    [InlineData("pdf.processing", "contains '.'")]
    [InlineData("'pdf processing'", "contains ' '")]
    public Task Names_outside_the_specification_are_refused_saying_why(string name, string words) =>
        AssertRefused($"name: {name}\ndescription: d\n", "skill_md_invalid_name", words);

    [Fact]
    public async Task Compatibility_of_500_characters_is_accepted_and_501_refused()
    {
        await Upload($"name: x\ndescription: d\ncompatibility: {new string('c', 500)}\n");
        await AssertRefused($"name: x\ndescription: d\ncompatibility: {new string('c', 501)}\n", "skill_md_compatibility_too_long", "at most 500");
    }

    [Fact]
    public Task Empty_compatibility_is_refused() =>
        AssertRefused("name: x\ndescription: d\ncompatibility: ''\n", "skill_md_invalid_compatibility", "'compatibility' must be a non-empty string");

    [Theory]
    [InlineData("metadata: [a, b]\n", "must be a mapping")]
    [InlineData("metadata:\n  owner:\n    team: x\n", "value of 'owner' must be text")]
    [InlineData("metadata:\n  tags: [a, b]\n", "value of 'tags' must be text")]
    [InlineData("metadata:\n  owner:\n", "value of 'owner' must be text")]
    public Task Metadata_that_is_not_a_map_of_strings_is_refused(string metadata, string words) =>
        AssertRefused($"name: x\ndescription: d\n{metadata}", "skill_md_invalid_metadata", words);

    [Fact]
    public Task Allowed_tools_as_a_list_is_refused_asking_for_one_line() =>
        AssertRefused("name: x\ndescription: d\nallowed-tools:\n  - Read\n  - Bash\n", "skill_md_invalid_allowed_tools", "space-separated");

    [Fact]
    public async Task Unknown_keys_are_one_warning_naming_them_and_the_upload_is_accepted()
    {
        SkillPackage package = await Upload("name: x\ndescription: d\nversion: 2\nuser-invocable: true\nlicense: MIT\n");

        PackagingWarning warning = Assert.Single(package.Warnings);
        Assert.Equal("skill_md_unknown_keys", warning.Rule);
        Assert.Equal("SKILL.md", warning.FilePath);
        Assert.Equal("SKILL.md front matter has keys the Agent Skills specification does not define ('version', 'user-invocable'); " +
            "the registry keeps them in SKILL.md but does not read them.", warning.Message);
    }

    [Fact]
    public async Task A_repository_root_skill_has_no_folder_name_to_differ_from()
    {
        var tarball = new TarBuilder().Directory(Top).File(Top + "SKILL.md", "---\nname: pdf-tools\ndescription: d\n---\n");

        SkillPackage package = await Repack(tarball, ".");

        Assert.Empty(package.Warnings);
    }

    [Fact]
    public async Task A_name_that_differs_from_the_registry_entry_is_a_warning_naming_both()
    {
        var tarball = new TarBuilder().Directory(Top).File(Top + "skills/pdf-tools/SKILL.md", "---\nname: pdf-tools\ndescription: d\n---\n");
        SkillPackage package = await Repack(tarball, "skills/pdf-tools");

        Assert.Empty(package.WarningsFor("pdf-tools"));
        PackagingWarning warning = Assert.Single(package.WarningsFor("pdf"));
        Assert.Equal("skill_name_differs_from_entry", warning.Rule);
        Assert.Equal("skills/pdf-tools/SKILL.md names the skill \"pdf-tools\" but the registry entry is \"pdf\"; agents will know it as \"pdf-tools\".",
            warning.Message);
        Assert.Equal(" Warnings: " + warning.Message, PackagingWarning.Describe(package.WarningsFor("pdf")));
        Assert.Equal("", PackagingWarning.Describe(package.WarningsFor("pdf-tools")));
    }
}
