namespace SelfTune.Admin.GitHub.Client;

/// <summary>GitHub App settings, bound from the "GitHub" configuration section.</summary>
public sealed class GitHubOptions
{
    public const string SectionName = "GitHub";

    public long? AppId { get; set; }
    public string? AppSlug { get; set; }

    /// <summary>PEM text (PKCS#1 or PKCS#8). Wins over <see cref="PrivateKeyPath"/>.</summary>
    public string? PrivateKey { get; set; }
    public string? PrivateKeyPath { get; set; }
    public string? WebhookSecret { get; set; }

    /// <summary>REST API root. For hosts other than (api.)github.com Octokit appends <c>/api/v3/</c>.</summary>
    public Uri ApiBaseUrl { get; set; } = new("https://api.github.com/");

    /// <summary>Web root, used for install links.</summary>
    public Uri WebBaseUrl { get; set; } = new("https://github.com/");

    /// <summary>The App's OAuth client id and secret: user authorization proves who may bind an installation.</summary>
    public string? ClientId { get; set; }
    public string? ClientSecret { get; set; }

    /// <summary>Single-tenant self-hosting only: API keys bind installations without a state proved by GitHub's user authorization.</summary>
    public bool TrustApiKeyBinding { get; set; }

    /// <summary>
    /// Slug of the org whose owners may create the deployment's GitHub App from <c>/settings/github</c> (the manifest flow).
    /// The App serves every org, so this is the operator's choice: unset means the Development seed org (<c>acme</c>) in
    /// Development and no org otherwise; empty means no org.
    /// </summary>
    public string? ManifestSetupOrg { get; set; }

    /// <summary>
    /// How long active connections may hear no delivery from GitHub before GitHub setup and the overview warn that the
    /// webhook may not reach the app.
    /// </summary>
    public TimeSpan QuietWarningAfter { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Timeout of a single HTTP attempt (retries get their own).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public int MaxRetries { get; set; } = 4;

    /// <summary>Longest wait before a retry; a server asking for longer (Retry-After, rate-limit reset) is not retried.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Base of the exponential backoff used when the server gives no hint.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// GitHub writes (check runs, commit statuses) one installation may make per minute from this instance
    /// (<see cref="InstallationWriteLimiter"/>): GitHub allows about 80; with several instances give each its share.
    /// </summary>
    public int WritesPerMinute { get; set; } = 80;

    /// <summary>Configuration keys of the App settings that are not set (empty when the App is configured).</summary>
    public IReadOnlyList<string> MissingSettings()
    {
        var missing = new List<string>(4);
        if (AppId is not > 0) missing.Add($"{SectionName}:{nameof(AppId)}");
        if (string.IsNullOrWhiteSpace(AppSlug)) missing.Add($"{SectionName}:{nameof(AppSlug)}");
        // Either the PEM text or a path to it satisfies the key requirement.
        if (string.IsNullOrWhiteSpace(PrivateKey) && string.IsNullOrWhiteSpace(PrivateKeyPath))
            missing.Add($"{SectionName}:{nameof(PrivateKey)}");
        if (string.IsNullOrWhiteSpace(WebhookSecret)) missing.Add($"{SectionName}:{nameof(WebhookSecret)}");
        return missing;
    }

    /// <summary>Total time an Octokit call may take including all attempts and retry waits.</summary>
    internal TimeSpan RequestBudget()
    {
        var retries = Math.Max(0, MaxRetries);
        return AttemptTimeout * (retries + 1) + MaxRetryDelay * retries + TimeSpan.FromSeconds(10);
    }
}
