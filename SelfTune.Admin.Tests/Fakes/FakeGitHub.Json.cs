using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace SelfTune.Admin.Tests.Fakes;

// GitHub REST JSON shapes (snake_case, as served by api.github.com / GHES).
public sealed partial class FakeGitHub
{
    private string Api => ApiUrl.AbsoluteUri;          // http://127.0.0.1:P/api/v3/
    private string Web => BaseUrl.AbsoluteUri;         // http://127.0.0.1:P/

    internal static string Ts(DateTimeOffset d) => d.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
    private static JsonNode? Ts(DateTimeOffset? d) => d is null ? null : Ts(d.Value);
    private static string NodeId(string kind, long id) => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{kind}{id}"));
    private static string Esc(string s) => Uri.EscapeDataString(s);
    private static string EscPath(string p) => string.Join('/', p.Split('/').Select(Uri.EscapeDataString));

    internal static JsonObject Error(string message, string documentationUrl = "https://docs.github.com/rest", int? status = null)
    {
        var o = new JsonObject { ["message"] = message, ["documentation_url"] = documentationUrl };
        if (status is not null) o["status"] = status.Value.ToString(CultureInfo.InvariantCulture);
        return o;
    }

    internal static async Task WriteJsonAsync(HttpContext ctx, int status, JsonNode? body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        ctx.Response.Headers["X-GitHub-Media-Type"] = "github.v3; format=json";
        ctx.Response.Headers["X-GitHub-Api-Version-Selected"] = "2022-11-28";
        ctx.Response.Headers["X-GitHub-Request-Id"] = "FAKE:" + Guid.NewGuid().ToString("N")[..16].ToUpperInvariant();
        if (!ctx.Response.Headers.ContainsKey("x-ratelimit-remaining"))
        {
            ctx.Response.Headers["x-ratelimit-limit"] = "5000";
            ctx.Response.Headers["x-ratelimit-remaining"] = "4999";
            ctx.Response.Headers["x-ratelimit-used"] = "1";
            ctx.Response.Headers["x-ratelimit-reset"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            ctx.Response.Headers["x-ratelimit-resource"] = "core";
        }
        await ctx.Response.WriteAsync(body?.ToJsonString() ?? "null");
    }

    private static Task NotFoundAsync(HttpContext ctx) =>
        WriteJsonAsync(ctx, 404, Error("Not Found", "https://docs.github.com/rest", 404));

    internal JsonObject UserJson(string login, long id, string type)
    {
        var u = Api + "users/" + Esc(login);
        return new JsonObject
        {
            ["login"] = login,
            ["id"] = id,
            ["node_id"] = NodeId(type switch { "Organization" => "012:Organization", "Bot" => "03:Bot", _ => "04:User" }, id),
            ["avatar_url"] = $"{Web}avatars/u/{id}?v=4",
            ["gravatar_id"] = "",
            ["url"] = u,
            ["html_url"] = type == "Bot" ? $"{Web}apps/{AppSlug}" : Web + Esc(login),
            ["followers_url"] = u + "/followers",
            ["following_url"] = u + "/following{/other_user}",
            ["gists_url"] = u + "/gists{/gist_id}",
            ["starred_url"] = u + "/starred{/owner}{/repo}",
            ["subscriptions_url"] = u + "/subscriptions",
            ["organizations_url"] = u + "/orgs",
            ["repos_url"] = u + "/repos",
            ["events_url"] = u + "/events{/privacy}",
            ["received_events_url"] = u + "/received_events",
            ["type"] = type,
            ["user_view_type"] = "public",
            ["site_admin"] = false,
        };
    }

    internal JsonObject AccountJson(string login)
    {
        var a = Account(login, "Organization");
        return UserJson(login, a.Id, a.Type);
    }

    internal JsonObject BotJson() => UserJson(AppSlug + "[bot]", 9_000_000 + AppId % 1_000_000, "Bot");

    private static JsonObject PermissionsJson(IReadOnlyDictionary<string, string> p)
    {
        var o = new JsonObject();
        foreach (var (k, v) in p.OrderBy(x => x.Key, StringComparer.Ordinal)) o[k] = v;
        return o;
    }

    private static JsonArray Strings(IEnumerable<string> items) => new(items.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());

    internal JsonObject AppJson()
    {
        int count;
        lock (_gate) count = _installations.Count;
        return new JsonObject
        {
            ["id"] = AppId,
            ["client_id"] = ClientId,
            ["slug"] = AppSlug,
            ["node_id"] = NodeId("03:Integration", AppId),
            ["owner"] = AccountJson(AppOwnerLogin),
            ["name"] = AppName,
            ["description"] = "Publishes agent skills from GitHub to SelfTune.",
            ["external_url"] = "https://selftune.example",
            ["html_url"] = $"{Web}apps/{AppSlug}",
            ["created_at"] = Ts(AppCreatedAt),
            ["updated_at"] = Ts(AppCreatedAt),
            ["permissions"] = PermissionsJson(DefaultPermissions(true, true)),
            ["events"] = Strings(["create", "pull_request", "push", "repository"]),
            ["installations_count"] = count,
        };
    }

    internal JsonObject InstallationJson(FakeInstallation i)
    {
        var htmlUrl = i.AccountType == "Organization"
            ? $"{Web}organizations/{Esc(i.AccountLogin)}/settings/installations/{i.Id}"
            : $"{Web}settings/installations/{i.Id}";
        return new JsonObject
        {
            ["id"] = i.Id,
            ["client_id"] = ClientId,
            ["account"] = UserJson(i.AccountLogin, i.AccountId, i.AccountType),
            ["repository_selection"] = i.RepositorySelection,
            ["access_tokens_url"] = $"{Api}app/installations/{i.Id}/access_tokens",
            ["repositories_url"] = $"{Api}installation/repositories",
            ["html_url"] = htmlUrl,
            ["app_id"] = AppId,
            ["app_slug"] = AppSlug,
            ["target_id"] = i.AccountId,
            ["target_type"] = i.AccountType,
            ["permissions"] = PermissionsJson(i.Permissions),
            ["events"] = Strings(i.Events),
            ["created_at"] = Ts(i.CreatedAt),
            ["updated_at"] = Ts(i.UpdatedAt),
            ["single_file_name"] = null,
            ["has_multiple_single_files"] = false,
            ["single_file_paths"] = new JsonArray(),
            ["suspended_by"] = i.Suspended ? UserJson(i.AccountLogin + "-admin", 777, "User") : null,
            ["suspended_at"] = Ts(i.SuspendedAt),
        };
    }

    internal JsonObject RepoJson(FakeRepo r)
    {
        string owner, name, defaultBranch, visibility;
        string? description;
        bool archived;
        DateTimeOffset? pushedAt;
        lock (_gate)
        {
            owner = r.Owner; name = r.Name; defaultBranch = r.DefaultBranch; visibility = r.Visibility;
            description = r.Description; archived = r.Archived; pushedAt = r.PushedAt;
        }
        var full = owner + "/" + name;
        var u = Api + "repos/" + full;
        var host = BaseUrl.Authority;
        return new JsonObject
        {
            ["id"] = r.Id,
            ["node_id"] = NodeId("010:Repository", r.Id),
            ["name"] = name,
            ["full_name"] = full,
            ["private"] = visibility != "public",
            ["owner"] = AccountJson(owner),
            ["html_url"] = Web + full,
            ["description"] = description,
            ["fork"] = false,
            ["url"] = u,
            ["forks_url"] = u + "/forks",
            ["keys_url"] = u + "/keys{/key_id}",
            ["collaborators_url"] = u + "/collaborators{/collaborator}",
            ["teams_url"] = u + "/teams",
            ["hooks_url"] = u + "/hooks",
            ["issue_events_url"] = u + "/issues/events{/number}",
            ["events_url"] = u + "/events",
            ["assignees_url"] = u + "/assignees{/user}",
            ["branches_url"] = u + "/branches{/branch}",
            ["tags_url"] = u + "/tags",
            ["blobs_url"] = u + "/git/blobs{/sha}",
            ["git_tags_url"] = u + "/git/tags{/sha}",
            ["git_refs_url"] = u + "/git/refs{/sha}",
            ["trees_url"] = u + "/git/trees{/sha}",
            ["statuses_url"] = u + "/statuses/{sha}",
            ["languages_url"] = u + "/languages",
            ["stargazers_url"] = u + "/stargazers",
            ["contributors_url"] = u + "/contributors",
            ["subscribers_url"] = u + "/subscribers",
            ["subscription_url"] = u + "/subscription",
            ["commits_url"] = u + "/commits{/sha}",
            ["git_commits_url"] = u + "/git/commits{/sha}",
            ["comments_url"] = u + "/comments{/number}",
            ["issue_comment_url"] = u + "/issues/comments{/number}",
            ["contents_url"] = u + "/contents/{+path}",
            ["compare_url"] = u + "/compare/{base}...{head}",
            ["merges_url"] = u + "/merges",
            ["archive_url"] = u + "/{archive_format}{/ref}",
            ["downloads_url"] = u + "/downloads",
            ["issues_url"] = u + "/issues{/number}",
            ["pulls_url"] = u + "/pulls{/number}",
            ["milestones_url"] = u + "/milestones{/number}",
            ["notifications_url"] = u + "/notifications{?since,all,participating}",
            ["labels_url"] = u + "/labels{/name}",
            ["releases_url"] = u + "/releases{/id}",
            ["deployments_url"] = u + "/deployments",
            ["created_at"] = Ts(r.CreatedAt),
            ["updated_at"] = Ts(r.UpdatedAt),
            ["pushed_at"] = Ts(pushedAt ?? r.CreatedAt),
            ["git_url"] = $"git://{host}/{full}.git",
            ["ssh_url"] = $"git@{host}:{full}.git",
            ["clone_url"] = Web + full + ".git",
            ["svn_url"] = Web + full,
            ["homepage"] = null,
            ["size"] = 1,
            ["stargazers_count"] = 0,
            ["watchers_count"] = 0,
            ["language"] = null,
            ["has_issues"] = true,
            ["has_projects"] = true,
            ["has_downloads"] = true,
            ["has_wiki"] = true,
            ["has_pages"] = false,
            ["has_discussions"] = false,
            ["forks_count"] = 0,
            ["mirror_url"] = null,
            ["archived"] = archived,
            ["disabled"] = false,
            ["open_issues_count"] = 0,
            ["license"] = null,
            ["allow_forking"] = true,
            ["is_template"] = false,
            ["web_commit_signoff_required"] = false,
            ["topics"] = new JsonArray(),
            ["visibility"] = visibility,
            ["forks"] = 0,
            ["open_issues"] = 0,
            ["watchers"] = 0,
            ["default_branch"] = defaultBranch,
            ["permissions"] = new JsonObject { ["admin"] = false, ["maintain"] = false, ["push"] = false, ["triage"] = false, ["pull"] = true },
        };
    }

    private JsonObject CommitJson(FakeRepo r, string full, FakeCommit c)
    {
        var u = $"{Api}repos/{full}";
        var person = new JsonObject { ["name"] = FakeCommit.AuthorName, ["email"] = FakeCommit.AuthorEmail, ["date"] = Ts(c.Date) };
        var parents = new JsonArray();
        if (c.ParentSha is not null)
            parents.Add(new JsonObject { ["sha"] = c.ParentSha, ["url"] = $"{u}/commits/{c.ParentSha}", ["html_url"] = $"{Web}{full}/commit/{c.ParentSha}" });
        return new JsonObject
        {
            ["sha"] = c.Sha,
            ["node_id"] = NodeId("06:Commit" + r.Id + ":", 0) + c.Sha[..8],
            ["commit"] = new JsonObject
            {
                ["author"] = person,
                ["committer"] = person.DeepClone(),
                ["message"] = c.Message,
                ["tree"] = new JsonObject { ["sha"] = c.TreeSha, ["url"] = $"{u}/git/trees/{c.TreeSha}" },
                ["url"] = $"{u}/git/commits/{c.Sha}",
                ["comment_count"] = 0,
                ["verification"] = new JsonObject { ["verified"] = false, ["reason"] = "unsigned", ["signature"] = null, ["payload"] = null, ["verified_at"] = null },
            },
            ["url"] = $"{u}/commits/{c.Sha}",
            ["html_url"] = $"{Web}{full}/commit/{c.Sha}",
            ["comments_url"] = $"{u}/commits/{c.Sha}/comments",
            ["author"] = null,
            ["committer"] = null,
            ["parents"] = parents,
        };
    }

    private JsonObject GitCommitJson(string full, FakeCommit c)
    {
        var u = $"{Api}repos/{full}";
        var person = new JsonObject { ["name"] = FakeCommit.AuthorName, ["email"] = FakeCommit.AuthorEmail, ["date"] = Ts(c.Date) };
        var parents = new JsonArray();
        if (c.ParentSha is not null)
            parents.Add(new JsonObject { ["sha"] = c.ParentSha, ["url"] = $"{u}/git/commits/{c.ParentSha}", ["html_url"] = $"{Web}{full}/commit/{c.ParentSha}" });
        return new JsonObject
        {
            ["sha"] = c.Sha,
            ["node_id"] = NodeId("06:Commit:", 0) + c.Sha[..8],
            ["url"] = $"{u}/git/commits/{c.Sha}",
            ["html_url"] = $"{Web}{full}/commit/{c.Sha}",
            ["author"] = person,
            ["committer"] = person.DeepClone(),
            ["tree"] = new JsonObject { ["sha"] = c.TreeSha, ["url"] = $"{u}/git/trees/{c.TreeSha}" },
            ["message"] = c.Message,
            ["parents"] = parents,
            ["verification"] = new JsonObject { ["verified"] = false, ["reason"] = "unsigned", ["signature"] = null, ["payload"] = null, ["verified_at"] = null },
        };
    }

    private JsonObject RefJson(string full, string refName, string sha) => new()
    {
        ["ref"] = refName,
        ["node_id"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("REF_" + full + ":" + refName)),
        ["url"] = $"{Api}repos/{full}/git/{EscPath(refName)}",
        ["object"] = new JsonObject { ["sha"] = sha, ["type"] = "commit", ["url"] = $"{Api}repos/{full}/git/commits/{sha}" },
    };

    internal JsonObject CheckRunJson(FakeCheckRun c)
    {
        var u = $"{Api}repos/{c.RepoFullName}/check-runs/{c.Id}";
        return new JsonObject
        {
            ["id"] = c.Id,
            ["name"] = c.Name,
            ["node_id"] = NodeId("CR_", c.Id),
            ["head_sha"] = c.HeadSha,
            ["external_id"] = c.ExternalId ?? "",
            ["url"] = u,
            ["html_url"] = $"{Web}{c.RepoFullName}/runs/{c.Id}",
            ["details_url"] = c.DetailsUrl ?? $"{Web}apps/{AppSlug}",
            ["status"] = c.Status,
            ["conclusion"] = c.Conclusion,
            ["started_at"] = Ts(c.StartedAt),
            ["completed_at"] = Ts(c.CompletedAt),
            ["output"] = new JsonObject
            {
                ["title"] = c.Title,
                ["summary"] = c.Summary,
                ["text"] = c.Text,
                ["annotations_count"] = 0,
                ["annotations_url"] = u + "/annotations",
            },
            ["check_suite"] = new JsonObject { ["id"] = c.CheckSuiteId },
            ["app"] = AppJson(),
            ["pull_requests"] = new JsonArray(),
        };
    }

    internal JsonObject StatusJson(FakeCommitStatus s) => new()
    {
        ["url"] = $"{Api}repos/{s.RepoFullName}/statuses/{s.Sha}",
        ["avatar_url"] = $"{Web}avatars/in/{AppId}?v=4",
        ["id"] = s.Id,
        ["node_id"] = NodeId("SC_", s.Id),
        ["state"] = s.State,
        ["description"] = s.Description,
        ["target_url"] = s.TargetUrl,
        ["context"] = s.Context,
        ["created_at"] = Ts(s.CreatedAt),
        ["updated_at"] = Ts(s.CreatedAt),
        ["creator"] = BotJson(),
    };
}
