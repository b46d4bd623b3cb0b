using System.Text.RegularExpressions;

namespace SelfTune.Admin.Infrastructure;

/// <summary>Input rules shared by the API and the UI.</summary>
public static partial class Validation
{
    /// <summary>GitHub's rules: owner 1-39 alphanumerics or single hyphens; repository 1-100 of [A-Za-z0-9._-], not "." or "..".</summary>
    public static bool IsRepoFullName(string? value) =>
        value is { Length: <= 140 } && RepoFullName().IsMatch(value) && value.Split('/')[1] is not ("." or "..");

    public static bool IsEntryName(string? value) => value is { Length: > 0 and <= 128 } && EntryName().IsMatch(value);

    [GeneratedRegex(@"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex RepoFullName();

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]*$")]
    private static partial Regex EntryName();
}
