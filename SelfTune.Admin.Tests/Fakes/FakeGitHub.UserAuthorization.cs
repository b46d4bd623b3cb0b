using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace SelfTune.Admin.Tests.Fakes;

/// <summary>A GitHub user: their own account and the organizations they belong to.</summary>
public sealed class FakeUser(long id, string login)
{
    public long Id { get; } = id;
    public string Login { get; } = login;
    internal HashSet<string> Organizations { get; } = new(StringComparer.OrdinalIgnoreCase);
}

// GitHub's user authorization for the App (the web flow): GitHub users, the person signed in to the browser pages,
// /login/oauth/authorize, /login/oauth/access_token and GET /user/installations with a user-to-server token.
public sealed partial class FakeGitHub
{
    private readonly Dictionary<string, FakeUser> _users = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, (string Login, DateTimeOffset ExpiresAt)> _oauthCodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _userTokens = new(StringComparer.Ordinal);
    private Uri? _callbackUrl;
    private string? _browserUser;

    /// <summary>The App's client secret (the client id is <see cref="ClientId"/>); the manifest conversion returns it too.</summary>
    public string ClientSecret { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));

    /// <summary>
    /// The App's Callback URL. Set, the App has "Request user authorization (OAuth) during installation": the install page
    /// sends the browser there with a code, installation_id, setup_action and state (instead of to <see cref="SetupUrl"/>),
    /// and /login/oauth/authorize accepts only redirect_uri values under it.
    /// </summary>
    public Uri? CallbackUrl { get { lock (_gate) return _callbackUrl; } set { lock (_gate) _callbackUrl = value; } }

    /// <summary>The login of the GitHub user signed in to the browser pages (install, authorize); null: nobody.</summary>
    public string? BrowserUser { get { lock (_gate) return _browserUser; } set { lock (_gate) _browserUser = value; } }

    /// <summary>A GitHub user (created once per login) who belongs to <paramref name="organizations"/>.</summary>
    public FakeUser AddUser(string login, params string[] organizations)
    {
        lock (_gate)
        {
            if (!_users.TryGetValue(login, out var user))
                _users[login] = user = new FakeUser(Account(login, "User").Id, login);
            user.Organizations.UnionWith(organizations);
            return user;
        }
    }

    /// <summary>The installations <paramref name="login"/> can access: on their own account and on organizations they belong to.</summary>
    public IReadOnlyList<FakeInstallation> InstallationsFor(string login)
    {
        lock (_gate)
        {
            var user = _users.GetValueOrDefault(login);
            return _installations.Values.Where(i => !i.IsDeleted && (string.Equals(i.AccountLogin, login, StringComparison.OrdinalIgnoreCase)
                    || user?.Organizations.Contains(i.AccountLogin) == true))
                .OrderBy(i => i.Id).ToArray();
        }
    }

    /// <summary>User-to-server tokens handed out so far (the product must not keep them; tests only count them).</summary>
    public int UserTokensIssued { get { lock (_gate) return _userTokens.Count; } }

    /// <summary>A one-time code for the signed-in browser user, as GitHub's authorize page issues it (valid ten minutes).</summary>
    private string IssueCode(string login)
    {
        var code = RandomString(20);
        lock (_gate) _oauthCodes[code] = (login, DateTimeOffset.UtcNow.AddMinutes(10));
        return code;
    }

    private static string WithQuery(Uri target, string query) =>
        target.AbsoluteUri + (string.IsNullOrEmpty(target.Query) ? "?" : "&") + query;

    private static async Task WritePageAsync(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain";
        await ctx.Response.WriteAsync(text);
    }

    /// <summary>GET /login/oauth/authorize: the signed-in user authorizes the App; GitHub sends them to redirect_uri with a code.</summary>
    private async Task AuthorizeAsync(HttpContext ctx)
    {
        var q = ctx.Request.Query;
        if (q["client_id"] != ClientId)
        {
            await WritePageAsync(ctx, 404, "FakeGitHub: unknown client_id.");
            return;
        }
        var callback = CallbackUrl;
        var login = BrowserUser;
        if (callback is null || login is null)
        {
            await WritePageAsync(ctx, 404, "FakeGitHub: set CallbackUrl and BrowserUser before the browser authorizes.");
            return;
        }
        var state = q["state"].Count > 0 ? "&state=" + Esc(q["state"].ToString()) : "";
        var redirect = q["redirect_uri"].ToString();
        // GitHub: the redirect_uri's host and port must match the callback URL's and its path lie under the callback's path.
        var target = string.IsNullOrEmpty(redirect) ? callback : Uri.TryCreate(redirect, UriKind.Absolute, out var r) ? r : null;
        if (target is null || target.GetLeftPart(UriPartial.Authority) != callback.GetLeftPart(UriPartial.Authority)
            || !target.AbsolutePath.StartsWith(callback.AbsolutePath, StringComparison.Ordinal))
        {
            ctx.Response.StatusCode = 302;
            ctx.Response.Headers.Location = WithQuery(callback, "error=redirect_uri_mismatch" + state);
            return;
        }
        ctx.Response.StatusCode = 302;
        ctx.Response.Headers.Location = WithQuery(target, "code=" + IssueCode(login) + state);
    }

    /// <summary>
    /// POST /login/oauth/access_token (form or JSON): client id + secret + a code, once. GitHub answers 200 with an
    /// "error" for a bad code or client; JSON when asked (Accept), else form encoded.
    /// </summary>
    private async Task AccessTokenAsync(HttpContext ctx)
    {
        Dictionary<string, string?> fields;
        if (ctx.Request.HasFormContentType)
            fields = (await ctx.Request.ReadFormAsync()).ToDictionary(kv => kv.Key, kv => (string?)kv.Value.ToString());
        else
            fields = (await ReadJsonObjectAsync(ctx))?.ToDictionary(kv => kv.Key, kv => kv.Value?.GetValue<string>()) ?? new();
        string? Field(string name) => fields.GetValueOrDefault(name) ?? ctx.Request.Query[name].FirstOrDefault();

        var answer = new JsonObject();
        string? grantedTo = null; // the user the code was issued to, while it is fresh; the code is used up either way
        lock (_gate)
        {
            if (Field("code") is { } code && _oauthCodes.Remove(code, out var grant) && grant.ExpiresAt > DateTimeOffset.UtcNow) grantedTo = grant.Login;
        }
        if (Field("client_id") != ClientId || Field("client_secret") != ClientSecret)
        {
            answer["error"] = "incorrect_client_credentials";
            answer["error_description"] = "The client_id and/or client_secret passed are incorrect.";
        }
        else if (grantedTo is null)
        {
            answer["error"] = "bad_verification_code";
            answer["error_description"] = "The code passed is incorrect or expired.";
        }
        else
        {
            var token = "ghu_" + RandomString(36);
            lock (_gate) _userTokens[token] = grantedTo;
            answer["access_token"] = token;
            answer["token_type"] = "bearer";
            answer["scope"] = "";
        }
        if (ctx.Request.Headers.Accept.ToString().Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            await WriteJsonAsync(ctx, 200, answer);
            return;
        }
        ctx.Response.ContentType = "application/x-www-form-urlencoded";
        await ctx.Response.WriteAsync(string.Join('&', answer.Select(kv => Esc(kv.Key) + "=" + Esc(kv.Value!.GetValue<string>()))));
    }

    /// <summary>GET /user/installations with a user-to-server token: the App's installations the user can access, paged.</summary>
    private async Task UserInstallationsAsync(HttpContext ctx)
    {
        string? login = null;
        lock (_gate)
        {
            if (BearerValue(ctx.Request) is { } token && _userTokens.TryGetValue(token, out var user)) login = user;
        }
        if (login is null)
        {
            // An installation token or an App JWT is not a user: GitHub says so.
            await WriteJsonAsync(ctx, BearerValue(ctx.Request) is null ? 401 : 403,
                Error(BearerValue(ctx.Request) is null ? "Requires authentication" : "You must authenticate with an access token authorized to a GitHub App in order to list installations",
                    "https://docs.github.com/rest/apps/installations#list-app-installations-accessible-to-the-user-access-token"));
            return;
        }
        var all = InstallationsFor(login);
        var page = Page(ctx, all);
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["total_count"] = all.Count,
            ["installations"] = new JsonArray(page.Select(i => (JsonNode?)InstallationJson(i)).ToArray()),
        });
    }

    /// <summary>The install page with "Request user authorization (OAuth) during installation": back to the callback with a code.</summary>
    private async Task<bool> InstallThroughCallbackAsync(HttpContext ctx, FakeInstallation inst, string setupAction)
    {
        var callback = CallbackUrl;
        if (callback is null) return false;
        var login = BrowserUser;
        if (login is null)
        {
            await WritePageAsync(ctx, 404, "FakeGitHub: set BrowserUser (the GitHub user who installs) before the browser install.");
            return true;
        }
        var state = ctx.Request.Query["state"];
        ctx.Response.StatusCode = 302;
        ctx.Response.Headers.Location = WithQuery(callback,
            $"code={IssueCode(login)}&installation_id={inst.Id.ToString(CultureInfo.InvariantCulture)}&setup_action={setupAction}"
            + (state.Count > 0 ? "&state=" + Esc(state.ToString()) : ""));
        return true;
    }
}
