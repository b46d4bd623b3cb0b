using Semver;
using SelfTune.Admin.Registry;

namespace SelfTune.Admin.Tests.Registry;

/// <summary>The registry's version rule: strict SemVer 2.0, plus the commit prerelease whose sha7 may have a leading zero.</summary>
public class RegistryVersionTests
{
    [Theory]
    [InlineData("0.0.0-github.0123456")]   // digits only with a leading zero: not strict SemVer, still a commit prerelease
    [InlineData("0.0.0-github.0123456.2")] // the suffix of a re-publish after a configuration change
    [InlineData("0.0.0-github.abcdef1")]
    [InlineData("0.0.0-github.1234567")]
    [InlineData("1.0.0")]
    [InlineData("1.2.3-beta.1+build.5")]
    public void Accepts_strict_semver_and_the_commit_prerelease_as_written(string text)
    {
        Assert.True(RegistryVersion.TryParse(text, out var version));
        Assert.Equal(text, version.Text); // never normalised: the stored string is the published one
    }

    [Theory]
    [InlineData("01.0.0")]
    [InlineData("1.0.0-01")]                // a leading zero elsewhere stays refused
    [InlineData("0.0.0-github.0123456.01")]
    [InlineData("0.0.0-github.012345")]     // not a sha7
    [InlineData("1.0.0-github.0123456")]
    [InlineData("v1.0.0")]
    [InlineData("")]
    public void Refuses_what_is_neither(string text) => Assert.False(RegistryVersion.TryParse(text, out _));

    [Fact]
    public void Refuses_more_than_128_characters() =>
        Assert.False(RegistryVersion.TryParse("1.0.0-" + new string('a', 123), out _));

    [Fact]
    public void A_leading_zero_sha7_orders_as_text_among_commit_prereleases_and_below_every_release()
    {
        string[] shuffled = ["1.0.0", "0.0.0-github.abcdef1", "0.0.0-github.0123456.1", "0.0.0-github.1234567", "0.0.0-github.0123456", "0.0.1"];
        var ordered = shuffled.Select(RegistryVersion.Parse).Order().Select(v => v.Text).ToArray();
        // 1234567 is numeric (strict SemVer): below the alphanumeric ones; 0123456 is a commit id compared as text.
        Assert.Equal(["0.0.0-github.1234567", "0.0.0-github.0123456", "0.0.0-github.0123456.1", "0.0.0-github.abcdef1", "0.0.1", "1.0.0"], ordered);
        Assert.True(RegistryVersion.Parse("0.0.0-github.0123456").IsPrerelease);
    }

    [Fact]
    public void Strict_versions_order_exactly_as_semver_says()
    {
        string[] versions = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
            "1.0.0-rc.1", "1.0.0", "1.0.0+build", "2.0.0", "10.0.0", "0.0.0-github.abcdef1", "0.0.0-github.1234567"];
        foreach (var a in versions)
            foreach (var b in versions)
                Assert.Equal(
                    Math.Sign(SemVersion.Parse(a, SemVersionStyles.Strict).ComparePrecedenceTo(SemVersion.Parse(b, SemVersionStyles.Strict))),
                    Math.Sign(RegistryVersion.Parse(a).CompareTo(RegistryVersion.Parse(b))));
    }
}
