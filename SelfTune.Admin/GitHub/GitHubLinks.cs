namespace SelfTune.Admin.GitHub;

/// <summary>
/// The addresses of GitHub's web pages the app links to (accounts, repositories, commits, tags, check runs, the App's
/// install and settings pages), all under <c>GitHub:WebBaseUrl</c> (github.com, a GitHub Enterprise host, or the tests'
/// fake). The one place a GitHub web link is built.
/// </summary>
public sealed class GitHubLinks(IOptionsMonitor<GitHubOptions> options)
{
    /// <summary>GitHub's web root without the trailing '/', e.g. https://github.com.</summary>
    public string Root => options.CurrentValue.WebBaseUrl.AbsoluteUri.TrimEnd('/');

    /// <summary>A user's or organization's profile.</summary>
    public string Account(string login) => $"{Root}/{login}";

    /// <summary>A repository by its full name (<c>owner/repo</c>).</summary>
    public string Repository(string repoFullName) => $"{Root}/{repoFullName}";

    public string Commit(string repoFullName, string sha) => $"{Repository(repoFullName)}/commit/{sha}";

    /// <summary>The commit (a full SHA) or the tag's tree a version's source_ref names; null when it did not come from a repository.</summary>
    public string? SourceRef(string? repoFullName, string? sourceRef) =>
        repoFullName is null || sourceRef is null ? null
        : $"{Repository(repoFullName)}/{(GitRef.IsSha(sourceRef) ? "commit" : "tree")}/{Uri.EscapeDataString(sourceRef)}";

    /// <summary>GitHub's page of a check run: <c>{web}/{owner}/{repo}/runs/{check_run_id}</c>.</summary>
    public string CheckRun(string repoFullName, string checkRunId) => $"{Repository(repoFullName)}/runs/{Uri.EscapeDataString(checkRunId)}";

    /// <summary>The App's public page.</summary>
    public string App(string appSlug) => $"{Root}/apps/{Uri.EscapeDataString(appSlug)}";

    /// <summary>GitHub's page that installs <paramref name="appSlug"/>; GitHub hands <paramref name="state"/> back to the Setup URL.</summary>
    public string InstallApp(string appSlug, string state) => $"{App(appSlug)}/installations/new?state={Uri.EscapeDataString(state)}";

    /// <summary>Where the App manifest form posts: the signed-in user's account, or a GitHub organization they administer.</summary>
    public string NewApp(string? githubOrganization, string state)
    {
        var path = string.IsNullOrWhiteSpace(githubOrganization)
            ? "settings/apps/new"
            : $"organizations/{Uri.EscapeDataString(githubOrganization.Trim())}/settings/apps/new";
        return $"{Root}/{path}?state={Uri.EscapeDataString(state)}";
    }

    /// <summary>The installation's settings page on GitHub (repository access, permissions to accept, uninstall).</summary>
    public string InstallationSettings(GitHubInstallation i) =>
        i.AccountType == "Organization"
            ? $"{Root}/organizations/{Uri.EscapeDataString(i.AccountLogin)}/settings/installations/{i.InstallationId}"
            : $"{Root}/settings/installations/{i.InstallationId}";
}
