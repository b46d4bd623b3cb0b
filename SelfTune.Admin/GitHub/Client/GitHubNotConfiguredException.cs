namespace SelfTune.Admin.GitHub.Client;

/// <summary>The GitHub App settings are missing or unusable; endpoints map this to 503 github_not_configured.</summary>
public sealed class GitHubNotConfiguredException : InvalidOperationException
{
    public GitHubNotConfiguredException(IReadOnlyList<string> missingSettings)
        : this(missingSettings, $"The GitHub App is not configured. Missing settings: {string.Join(", ", missingSettings)}.")
    {
    }

    public GitHubNotConfiguredException(IReadOnlyList<string> missingSettings, string message, Exception? inner = null)
        : base(message, inner)
    {
        MissingSettings = missingSettings;
    }

    /// <summary>Configuration keys such as "GitHub:AppId".</summary>
    public IReadOnlyList<string> MissingSettings { get; }
}
