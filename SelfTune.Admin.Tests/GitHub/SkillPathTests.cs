using SelfTune.Admin.GitHub;

namespace SelfTune.Admin.Tests.GitHub;

/// <summary>
/// A skill_path is read one way wherever it is taken (the connections API, direct imports, the setup form, repacking a
/// repository): what the API stores is the folder publishing packages.
/// </summary>
public sealed class SkillPathTests
{
    [Theory]
    [InlineData(".", ".")]
    [InlineData("", ".")] // empty is the root
    [InlineData(null, ".")] // not given: the root
    [InlineData("./", ".")]
    [InlineData("skills/foo", "skills/foo")]
    [InlineData("skills/foo/", "skills/foo")] // trailing slash
    [InlineData("skills/foo//", "skills/foo")]
    [InlineData("./skills/foo", "skills/foo")] // leading ./
    [InlineData("././skills/foo/", "skills/foo")]
    [InlineData("Skills/Foo", "Skills/Foo")] // git paths are case-sensitive: case is kept
    [InlineData("skills/my skill", "skills/my skill")]
    public void Equivalent_spellings_read_as_one_folder(string? given, string expected)
    {
        Assert.Null(GitHubRules.SkillPathError(given, out var normalized));
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("/skills/foo", "absolute")] // leading slash
    [InlineData("/", "absolute")] // not the root
    [InlineData("..", "'..'")]
    [InlineData("skills/../secret", "'..'")]
    [InlineData("./../secret", "'..'")]
    [InlineData("skills\\foo", "backslash")]
    [InlineData("skills//foo", "empty or '.' segment")]
    [InlineData("skills/./foo", "empty or '.' segment")]
    [InlineData("skills/\u202Efoo", "invisible")]
    public void Paths_outside_or_ambiguous_are_refused_with_the_reason(string given, string reason)
    {
        var error = GitHubRules.SkillPathError(given, out _);
        Assert.NotNull(error);
        Assert.Contains("The skill folder must be a relative path inside the repository", error);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void Longer_than_the_limit_is_refused()
    {
        Assert.Null(GitHubRules.SkillPathError(new string('a', GitHubRules.MaxSkillPathLength), out _));
        Assert.Contains("at most 1024", GitHubRules.SkillPathError(new string('a', GitHubRules.MaxSkillPathLength + 1), out _));
    }
}
