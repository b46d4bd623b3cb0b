namespace SelfTune.Admin.GitHub.Client;

/// <summary>Everything needed to act as the GitHub App.</summary>
public sealed record GitHubAppCredentials(long AppId, string AppSlug, string PrivateKeyPem, string WebhookSecret)
{
    // Keep secrets out of logs and exception messages.
    public override string ToString() => $"GitHubAppCredentials {{ AppId = {AppId}, AppSlug = {AppSlug} }}";
}

/// <summary>Where App credentials come from (configuration now; stored manifest-flow credentials later).</summary>
public interface IGitHubAppCredentialSource
{
    /// <summary>The credentials, or null when the App is not (fully) configured.</summary>
    ValueTask<GitHubAppCredentials?> GetAsync(CancellationToken ct);
}

/// <summary>Credentials from <see cref="GitHubOptions"/> (configuration).</summary>
public sealed class ConfiguredGitHubAppCredentials(IOptionsMonitor<GitHubOptions> options) : IGitHubAppCredentialSource
{
    readonly Lock gate = new();
    (string Path, DateTime WriteTimeUtc, string Pem)? keyFile;

    public async ValueTask<GitHubAppCredentials?> GetAsync(CancellationToken ct)
    {
        var o = options.CurrentValue;
        if (o.MissingSettings().Count > 0) return null;

        var pem = !string.IsNullOrWhiteSpace(o.PrivateKey)
            ? NormalizePem(o.PrivateKey)
            : await ReadKeyFileAsync(o.PrivateKeyPath!, ct);
        return new GitHubAppCredentials(o.AppId!.Value, o.AppSlug!.Trim(), pem, o.WebhookSecret!);
    }

    // Environment variables often carry the PEM on one line with literal "\n" separators.
    internal static string NormalizePem(string pem) =>
        !pem.Contains('\n') && pem.Contains("\\n") ? pem.Replace("\\n", "\n") : pem;

    async ValueTask<string> ReadKeyFileAsync(string path, CancellationToken ct)
    {
        var full = Path.GetFullPath(path);
        DateTime writeTime;
        try
        {
            writeTime = File.GetLastWriteTimeUtc(full);
            lock (gate)
            {
                // Cached because the app client reads credentials on every request.
                if (keyFile is { } cached && cached.Path == full && cached.WriteTimeUtc == writeTime) return cached.Pem;
            }
            var pem = await File.ReadAllTextAsync(full, ct);
            lock (gate) keyFile = (full, writeTime, pem);
            return pem;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GitHubNotConfiguredException(
                [$"{GitHubOptions.SectionName}:{nameof(GitHubOptions.PrivateKeyPath)}"],
                $"The GitHub App private key file '{full}' (GitHub:PrivateKeyPath) could not be read: {e.Message}", e);
        }
    }
}
