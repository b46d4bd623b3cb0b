namespace SelfTune.Admin.Components.Shared;

/// <summary>How the UI names the GitHub integration's enums (the API's snake_case words).</summary>
public static class Labels
{
    public static string Of<T>(T value) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    public static bool IsInProgress(AttemptStatus status) => status is AttemptStatus.Queued or AttemptStatus.Running;

}
