using System.Text.Json;
using SelfTune.Admin.Data;

namespace SelfTune.Admin.Components.Shared;

/// <summary>How the UI names the GitHub integration's enums (the API's snake_case words) and links to GitHub.</summary>
public static class Labels
{
    public static string Of<T>(T value) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    public static bool IsInProgress(AttemptStatus status) => status is AttemptStatus.Queued or AttemptStatus.Running;

    public static string RepoUrl(string webBase, string repoFullName) => $"{webBase.TrimEnd('/')}/{repoFullName}";

    public static string CommitUrl(string webBase, string repoFullName, string sha) => $"{webBase.TrimEnd('/')}/{repoFullName}/commit/{sha}";

    /// <summary>GitHub's page of a check run: <c>{web}/{owner}/{repo}/runs/{check_run_id}</c>.</summary>
    public static string CheckRunUrl(string webBase, string repoFullName, string checkRunId) =>
        $"{webBase.TrimEnd('/')}/{repoFullName}/runs/{Uri.EscapeDataString(checkRunId)}";

    /// <summary>A 40-character SHA shortened to 7, anything else (a tag) as it is.</summary>
    public static string ShortRef(string sourceRef) => sourceRef.Length == 40 && sourceRef.All(char.IsAsciiHexDigit) ? sourceRef[..7] : sourceRef;
}
