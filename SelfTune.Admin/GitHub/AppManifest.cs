using System.Text.Json.Nodes;
using Microsoft.AspNetCore.DataProtection;
using Octokit;
using Octokit.Internal;

namespace SelfTune.Admin.GitHub;

/// <summary>
/// GitHub's App manifest flow (https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest):
/// the browser POSTs a <c>manifest</c> to GitHub, GitHub creates the App and redirects to <c>redirect_url</c> with a
/// one-hour, single-use <c>code</c>, which is exchanged for the App's id, slug, private key and webhook secret.
/// </summary>
public static class AppManifest
{
    public const string WebhookPath = "api/v1/github/webhook";
    public const string CallbackPath = "settings/github/manifest";
    public const string SetupPath = "settings/github";
    /// <summary>The App's Callback URL: GitHub's user authorization (on install, on update, and "connect") returns here.</summary>
    public const string UserAuthorizationPath = "settings/github/callback";

    /// <summary>GitHub App names are at most 34 characters and unique on GitHub.</summary>
    public const int MaxNameLength = 34;

    /// <summary>The manifest for this deployment at <paramref name="appBaseUrl"/> (the app's own root URL, ending in '/').</summary>
    public static JsonObject Build(Uri appBaseUrl, string name, bool isPublic) => new()
    {
        ["name"] = name,
        ["url"] = appBaseUrl.AbsoluteUri,
        ["hook_attributes"] = new JsonObject { ["url"] = new Uri(appBaseUrl, WebhookPath).AbsoluteUri, ["active"] = true },
        ["redirect_url"] = new Uri(appBaseUrl, CallbackPath).AbsoluteUri,
        // Binding needs GitHub's word on who may use an installation: GitHub asks the installing person to authorize the
        // App and sends the browser to the callback with a code (and on updates too, "setup_on_update"). With this set
        // GitHub uses the callback instead of the Setup URL, which stays for an App whose owner turns that off (the page then
        // asks for the authorization itself).
        ["request_oauth_on_install"] = true,
        ["callback_urls"] = new JsonArray(new Uri(appBaseUrl, UserAuthorizationPath).AbsoluteUri),
        ["setup_url"] = new Uri(appBaseUrl, SetupPath).AbsoluteUri,
        ["setup_on_update"] = true,
        ["public"] = isPublic,
        // Contents + metadata read to publish; checks + statuses write for write-back; pull requests read because GitHub
        // only sends pull_request events (checks_and_prs) to Apps holding that permission.
        ["default_permissions"] = new JsonObject
        {
            ["contents"] = "read", ["metadata"] = "read", ["checks"] = "write", ["statuses"] = "write", ["pull_requests"] = "read",
        },
        // installation and installation_repositories are always delivered to an App and cannot be listed here.
        ["default_events"] = new JsonArray("push", "create", "repository", "pull_request"),
    };

    /// <summary>A GitHub App name problem, or null. GitHub checks uniqueness itself.</summary>
    public static string? NameError(string? name) =>
        string.IsNullOrWhiteSpace(name) ? "Give the App a name."
        : name.Trim().Length > MaxNameLength ? $"GitHub allows at most {MaxNameLength} characters."
        : null;

    /// <summary>A GitHub organization login problem, or null (empty means the personal account).</summary>
    public static string? OrganizationError(string? login) =>
        string.IsNullOrWhiteSpace(login) || Validation.IsRepoFullName(login.Trim() + "/x") ? null
        : "Not a GitHub organization name (letters, digits and single hyphens).";
}

/// <summary>
/// The manifest flow's server side: who may run it, a signed state naming the org and member, and the code exchange.
/// The App it creates serves every org of the deployment (its key and webhook secret are the deployment's), so only owners of
/// the org the operator named in <c>GitHub:ManifestSetupOrg</c> may run it.
/// </summary>
public sealed class AppManifestService(
    IDataProtectionProvider protection, StoredAppCredentials stored, IOptionsMonitor<GitHubOptions> options,
    IHttpMessageHandlerFactory handlers, IDbContextFactory<AdminDbContext> dbFactory, IHostEnvironment environment)
{
    public const string SetupOrgSetting = GitHubOptions.SectionName + ":" + nameof(GitHubOptions.ManifestSetupOrg);

    /// <summary>The slug of the org whose owners may create the App, or null when no org may (the operator configures it).</summary>
    public string? SetupOrgSlug
    {
        get
        {
            var configured = options.CurrentValue.ManifestSetupOrg;
            if (configured is null) return environment.IsDevelopment() ? DevelopmentSeed.OrgSlug : null;
            return string.IsNullOrWhiteSpace(configured) ? null : configured.Trim();
        }
    }

    /// <summary>Why this member may not create the App (in words for the page), or null when they may.</summary>
    public async Task<string?> RefusalAsync(Guid orgId, MemberRole role, CancellationToken ct = default)
    {
        if (SetupOrgSlug is not { } setupOrg)
            return "The GitHub App serves every org of this deployment, so its operator sets it up: configure GitHub:AppId, GitHub:AppSlug, "
                   + $"GitHub:PrivateKey and GitHub:WebhookSecret, or set {SetupOrgSetting} to the org whose owners may create the App here.";
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var slug = await db.Orgs.AsNoTracking().Where(o => o.Id == orgId).Select(o => o.Slug).SingleOrDefaultAsync(ct);
        if (!string.Equals(slug, setupOrg, StringComparison.OrdinalIgnoreCase))
            return $"Only owners of the org named in {SetupOrgSetting} can create the GitHub App, because it serves every org of this deployment. "
                   + "Ask the operator of this deployment to configure the App.";
        if (role < MemberRole.Owner)
            return "Only owners of this org can create the GitHub App, because it serves every org of this deployment.";
        return null;
    }

    /// <summary>Throws 403 unless the signed-in member may create the App (<see cref="RefusalAsync"/>).</summary>
    public async Task EnsureAllowedAsync(ClaimsPrincipal user, CancellationToken ct = default)
    {
        if (await RefusalAsync(user.GetOrgId(), user.GetRole(), ct) is { } refusal)
            throw new ProblemException(403, "forbidden", refusal);
    }

    /// <summary>
    /// The callback's work: checks that <paramref name="user"/> may create the App and started this flow (the state), then
    /// exchanges GitHub's code for the App's credentials and stores them.
    /// </summary>
    public async Task<StoredAppInfo> CompleteAsync(ClaimsPrincipal user, string? state, string? code, CancellationToken ct)
    {
        await EnsureAllowedAsync(user, ct);
        VerifyState(state, user.GetOrgId(), user.GetActorId());
        return await ExchangeAsync(Actor.From(user), code, ct);
    }

    public static readonly TimeSpan StateLifetime = TimeSpan.FromHours(1);
    ITimeLimitedDataProtector Protector => protection.CreateProtector("SelfTune.GitHub.ManifestState").ToTimeLimitedDataProtector();

    public string IssueState(Guid orgId, Guid actorId) =>
        Protector.Protect($"{orgId:N}.{actorId:N}", StateLifetime);

    /// <summary>Throws 403 unless <paramref name="state"/> was issued by this server, within the hour, to this member of this org.</summary>
    public void VerifyState(string? state, Guid orgId, Guid actorId)
    {
        if (string.IsNullOrEmpty(state))
            throw new ProblemException(403, "forbidden", "GitHub's answer carries no state, so SelfTune cannot tell that you started it. Start again from the GitHub settings page.");
        string payload;
        try { payload = Protector.Unprotect(state, out _); }
        catch (System.Security.Cryptography.CryptographicException)
        {
            throw new ProblemException(403, "forbidden", "The App creation link is invalid or older than an hour. Start again from the GitHub settings page.");
        }
        if (payload != $"{orgId:N}.{actorId:N}")
            throw new ProblemException(403, "forbidden", "This App creation was started by someone else. Start again from the GitHub settings page.");
    }

    /// <summary>Exchanges the code GitHub returned for the App's credentials and stores them encrypted (after the checks of <see cref="CompleteAsync"/>).</summary>
    async Task<StoredAppInfo> ExchangeAsync(Actor actor, string? code, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(code) || code.Length > 200)
            throw ProblemException.Invalid("code", "GitHub returned no code. If you cancelled on GitHub, start again.");
        if (await stored.GetInfoAsync(ct) is { } existing)
            throw ProblemException.Conflict($"A GitHub App ('{existing.Slug}') was already created from this page; SelfTune keeps using it.");

        GitHubAppFromManifest app;
        try
        {
            app = await CreateAnonymousClient().GitHubApps.CreateAppFromManifest(code);
        }
        catch (NotFoundException)
        {
            throw ProblemException.NotFound("GitHub does not know this code: codes work once and for one hour. Start again to create the App.");
        }
        catch (Exception e) when (GitHubFailures.IsGitHubFailure(e))
        {
            throw GitHubFailures.ToProblem(e, "creating the GitHub App from the manifest");
        }
        if (app.Id <= 0 || string.IsNullOrEmpty(app.Slug) || string.IsNullOrEmpty(app.Pem) || string.IsNullOrEmpty(app.WebhookSecret))
            throw new ProblemException(502, "upstream_failure", "GitHub created the App but did not return its id, slug, private key and webhook secret.");
        var oauthClient = string.IsNullOrEmpty(app.ClientId) || string.IsNullOrEmpty(app.ClientSecret) ? null : new GitHubOAuthClient(app.ClientId, app.ClientSecret);
        return await stored.SaveAsync(actor, app.Id, app.Slug, app.Pem, app.WebhookSecret, app.HtmlUrl, ct, oauthClient);
    }

    /// <summary>The conversion endpoint takes no authentication; the code is the credential.</summary>
    IGitHubClient CreateAnonymousClient()
    {
        var o = options.CurrentValue;
        var connection = new Connection(new Octokit.ProductHeaderValue(GitHubClientFactory.ProductName), GitHubClientFactory.ApiRoot(o.ApiBaseUrl),
            new InMemoryCredentialStore(Credentials.Anonymous),
            new HttpClientAdapter(() => handlers.CreateHandler(GitHubClientFactory.HttpClientName)), new SimpleJsonSerializer());
        return new GitHubClient(connection);
    }

    public static string Serialize(JsonObject manifest) => manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
