using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace SelfTune.Admin.Tests.Fakes;

// Request routing and handlers.
public sealed partial class FakeGitHub
{
    private static readonly string[] CheckStatuses = ["queued", "in_progress", "completed", "waiting", "requested", "pending"];
    private static readonly string[] CheckConclusions = ["action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out"];
    private static readonly string[] StatusStates = ["error", "failure", "pending", "success"];

    private async Task DispatchAsync(HttpContext ctx, string[] s, CancellationToken ct)
    {
        if (s is ["api", "v3", ..]) await ApiAsync(ctx, s[2..]);
        else if (s is ["_codeload", var o, var r, "legacy.tar.gz", .. var refParts])
            await CodeloadAsync(ctx, o, r, string.Join('/', refParts));
        else if (s is ["apps", var slug, "installations", "new"] && HttpMethods.IsGet(ctx.Request.Method))
            await BrowserInstallAsync(ctx, slug);
        else if (s is ["login", "oauth", "authorize"] && HttpMethods.IsGet(ctx.Request.Method)) await AuthorizeAsync(ctx);
        else if (s is ["login", "oauth", "access_token"] && HttpMethods.IsPost(ctx.Request.Method)) await AccessTokenAsync(ctx);
        else await UnroutedAsync(ctx);
    }

    private Task UnroutedAsync(HttpContext ctx)
    {
        ctx.Items["unrouted"] = true;
        return NotFoundAsync(ctx);
    }

    private async Task ApiAsync(HttpContext ctx, string[] s)
    {
        var get = HttpMethods.IsGet(ctx.Request.Method);
        var post = HttpMethods.IsPost(ctx.Request.Method);
        switch (s)
        {
            case ["app"] when get:
                if (await RequireAppJwtAsync(ctx)) await WriteJsonAsync(ctx, 200, AppJson());
                return;
            case ["app", "installations"] when get:
                if (!await RequireAppJwtAsync(ctx)) return;
                FakeInstallation[] all;
                lock (_gate) all = _installations.Values.OrderBy(i => i.Id).ToArray();
                var page = Page(ctx, all);
                await WriteJsonAsync(ctx, 200, new JsonArray(page.Select(i => (JsonNode?)InstallationJson(i)).ToArray()));
                return;
            case ["app", "installations", var id] when get:
                if (!await RequireAppJwtAsync(ctx)) return;
                var inst = FindInstallation(id);
                if (inst is null) await NotFoundAsync(ctx);
                else await WriteJsonAsync(ctx, 200, InstallationJson(inst));
                return;
            case ["app", "installations", var id, "access_tokens"] when post:
                if (await RequireAppJwtAsync(ctx)) await CreateAccessTokenAsync(ctx, id);
                return;
            case ["app", "hook", "deliveries", .. var hookRest]:
                await HookDeliveriesAsync(ctx, hookRest); // FakeGitHub.HookDeliveries.cs
                return;
            case ["app-manifests", var code, "conversions"] when post:
                await ManifestConversionAsync(ctx, code);
                return;
            case ["user", "installations"] when get:
                await UserInstallationsAsync(ctx);
                return;
            case ["installation", "repositories"] when get:
                await InstallationRepositoriesAsync(ctx);
                return;
            case ["repos", var o, var r, "installation"] when get:
                if (!await RequireAppJwtAsync(ctx)) return;
                FakeInstallation? forRepo;
                lock (_gate)
                {
                    var repo = FindRepo(o, r);
                    forRepo = repo is null ? null : _installations.Values.FirstOrDefault(i => i.RepoIds.Contains(repo.Id));
                }
                if (forRepo is null) await NotFoundAsync(ctx);
                else await WriteJsonAsync(ctx, 200, InstallationJson(forRepo));
                return;
            case ["orgs" or "users", var login, "installation"] when get:
                if (!await RequireAppJwtAsync(ctx)) return;
                FakeInstallation? forAccount;
                lock (_gate) forAccount = _installations.Values.FirstOrDefault(i => string.Equals(i.AccountLogin, login, StringComparison.OrdinalIgnoreCase));
                if (forAccount is null) await NotFoundAsync(ctx);
                else await WriteJsonAsync(ctx, 200, InstallationJson(forAccount));
                return;
            case ["rate_limit"] when get:
                await RateLimitAsync(ctx);
                return;
            case ["repos", var o, var r, .. var rest]:
                await RepoScopedAsync(ctx, o, r, null, rest);
                return;
            case ["repositories", var rid, .. var rest] when long.TryParse(rid, out var repoId):
                await RepoScopedAsync(ctx, null, null, repoId, rest);
                return;
            default:
                await UnroutedAsync(ctx);
                return;
        }
    }

    private FakeInstallation? FindInstallation(string id)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return null;
        lock (_gate) return _installations.GetValueOrDefault(n);
    }

    // ---------------------------------------------------------------- App endpoints

    private async Task CreateAccessTokenAsync(HttpContext ctx, string id)
    {
        var inst = FindInstallation(id);
        if (inst is null)
        {
            await NotFoundAsync(ctx);
            return;
        }
        if (inst.Suspended)
        {
            await WriteJsonAsync(ctx, 403, Error("This installation has been suspended", "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app", 403));
            return;
        }
        var body = await ReadJsonObjectAsync(ctx);
        if (body is null)
        {
            await WriteJsonAsync(ctx, 400, Error("Problems parsing JSON"));
            return;
        }

        // optional down-scoping to some repositories
        HashSet<long>? scoped = null;
        var scopedRepos = new List<FakeRepo>();
        var names = body["repositories"] as JsonArray;
        var ids = body["repository_ids"] as JsonArray;
        if (names is not null || ids is not null)
        {
            var ok = true;
            scoped = new HashSet<long>();
            lock (_gate)
            {
                var reachable = inst.RepoIds.Select(_repos.GetValueOrDefault).OfType<FakeRepo>().ToList();
                foreach (var n in names ?? [])
                {
                    var repo = reachable.FirstOrDefault(x => string.Equals(x.Name, n?.GetValue<string>(), StringComparison.OrdinalIgnoreCase));
                    if (repo is null) ok = false;
                    else if (scoped.Add(repo.Id)) scopedRepos.Add(repo);
                }
                foreach (var n in ids ?? [])
                {
                    var repo = reachable.FirstOrDefault(x => x.Id == (n?.GetValue<long>() ?? 0));
                    if (repo is null) ok = false;
                    else if (scoped.Add(repo.Id)) scopedRepos.Add(repo);
                }
            }
            if (!ok)
            {
                await WriteJsonAsync(ctx, 422, Error("There is at least one repository that does not exist or is not accessible to the parent installation.",
                    "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app", 422));
                return;
            }
        }

        var permissions = new SortedDictionary<string, string>(inst.Permissions.ToDictionary(), StringComparer.Ordinal);
        if (body["permissions"] is JsonObject requested)
        {
            var narrowed = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (k, v) in requested)
            {
                var level = v?.GetValue<string>() ?? "";
                if (!inst.Has(k, level == "write" ? "write" : "read"))
                {
                    await WriteJsonAsync(ctx, 422, Error("The permissions requested are not granted to this installation.",
                        "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app", 422));
                    return;
                }
                narrowed[k] = level;
            }
            permissions = narrowed;
        }

        var token = new IssuedToken
        {
            Token = "ghs_" + RandomString(36),
            InstallationId = inst.Id,
            ExpiresAt = DateTimeOffset.UtcNow.Add(TokenLifetime).Truncate(),
            RepoIds = scoped,
            Permissions = body["permissions"] is JsonObject ? permissions : null,
        };
        lock (_gate)
        {
            _tokens[token.Token] = token;
            _tokensIssued++;
        }
        var json = new JsonObject
        {
            ["token"] = token.Token,
            ["expires_at"] = Ts(token.ExpiresAt),
            ["permissions"] = PermissionsJson(permissions),
            ["repository_selection"] = scoped is null ? inst.RepositorySelection : "selected",
        };
        if (scoped is not null) json["repositories"] = new JsonArray(scopedRepos.Select(r => (JsonNode?)RepoJson(r)).ToArray());
        await WriteJsonAsync(ctx, 201, json);
    }

    private async Task ManifestConversionAsync(HttpContext ctx, string code)
    {
        bool known;
        lock (_gate) known = _manifestCodes.Remove(code);
        if (!known)
        {
            await NotFoundAsync(ctx);
            return;
        }
        var app = AppJson();
        app.Remove("installations_count");
        app["client_secret"] = ClientSecret;
        app["webhook_secret"] = WebhookSecret;
        app["pem"] = PrivateKeyPem;
        await WriteJsonAsync(ctx, 201, app);
    }

    private async Task RateLimitAsync(HttpContext ctx)
    {
        if (BearerValue(ctx.Request) is null)
        {
            await WriteJsonAsync(ctx, 401, Error("Requires authentication"));
            return;
        }
        var reset = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        JsonObject Rate() => new() { ["limit"] = 5000, ["used"] = 1, ["remaining"] = 4999, ["reset"] = reset, ["resource"] = "core" };
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["resources"] = new JsonObject { ["core"] = Rate(), ["search"] = Rate(), ["graphql"] = Rate() },
            ["rate"] = Rate(),
        });
    }

    // ---------------------------------------------------------------- Installation endpoints

    private async Task InstallationRepositoriesAsync(HttpContext ctx)
    {
        var auth = await RequireInstallationTokenAsync(ctx);
        if (auth is null) return;
        var (token, inst) = auth.Value;
        FakeRepo[] repos;
        lock (_gate)
            repos = inst.RepoIds.Where(id => token.RepoIds is null || token.RepoIds.Contains(id))
                .Select(id => _repos.GetValueOrDefault(id)).OfType<FakeRepo>().ToArray();
        var page = Page(ctx, repos);
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["total_count"] = repos.Length,
            ["repository_selection"] = token.RepoIds is null ? inst.RepositorySelection : "selected",
            ["repositories"] = new JsonArray(page.Select(r => (JsonNode?)RepoJson(r)).ToArray()),
        });
    }

    private bool TokenHas(IssuedToken token, FakeInstallation inst, string permission, string level)
    {
        if (!inst.Has(permission, level)) return false;
        if (token.Permissions is null) return true;
        return token.Permissions.TryGetValue(permission, out var granted)
            && (level == "read" ? granted is "read" or "write" : granted == "write");
    }

    private async Task RepoScopedAsync(HttpContext ctx, string? owner, string? name, long? repoId, string[] rest)
    {
        var auth = await RequireInstallationTokenAsync(ctx);
        if (auth is null) return;
        var (token, inst) = auth.Value;
        FakeRepo? repo;
        FakeRepo? moved = null;
        lock (_gate)
        {
            repo = repoId is { } id ? _repos.GetValueOrDefault(id) : FindRepo(owner!, name!);
            if (repo is null && owner is not null) moved = FindFormerRepo(owner, name!);
            bool Reaches(FakeRepo r) => inst.RepoIds.Contains(r.Id) && (token.RepoIds is null || token.RepoIds.Contains(r.Id));
            if (repo is not null && !Reaches(repo)) repo = null;
            if (moved is not null && !Reaches(moved)) moved = null;
        }
        if (moved is not null)
        {
            // GitHub: 301 for GET/HEAD, 307 for other methods, to /repositories/{id}/...
            var target = $"{Api}repositories/{moved.Id}" + string.Concat(rest.Select(x => "/" + Esc(x))) + ctx.Request.QueryString.Value;
            ctx.Response.Headers.Location = target;
            var code = HttpMethods.IsGet(ctx.Request.Method) || HttpMethods.IsHead(ctx.Request.Method) ? 301 : 307;
            await WriteJsonAsync(ctx, code, new JsonObject
            {
                ["message"] = code == 301 ? "Moved Permanently" : "Temporary Redirect",
                ["url"] = target,
                ["documentation_url"] = "https://docs.github.com/v3/#http-redirects",
            });
            return;
        }
        if (repo is null)
        {
            await NotFoundAsync(ctx);
            return;
        }

        var m = ctx.Request.Method;
        var get = HttpMethods.IsGet(m);
        switch (rest)
        {
            case [] when get:
                await WriteJsonAsync(ctx, 200, RepoJson(repo));
                return;
            case ["branches"] when get:
                await ListBranchesAsync(ctx, repo);
                return;
            case ["branches", .. var b] when get && b.Length > 0:
                await GetBranchAsync(ctx, repo, string.Join('/', b));
                return;
            case ["commits"] when get:
                await ListCommitsAsync(ctx, repo);
                return;
            case ["commits", .. var r, "check-runs"] when get && r.Length > 0:
                await ListCheckRunsForRefAsync(ctx, repo, string.Join('/', r));
                return;
            case ["commits", .. var r, "statuses"] when get && r.Length > 0:
                await ListStatusesAsync(ctx, repo, string.Join('/', r));
                return;
            case ["commits", .. var r, "status"] when get && r.Length > 0:
                await CombinedStatusAsync(ctx, repo, string.Join('/', r));
                return;
            case ["commits", .. var r] when get && r.Length > 0:
                await GetCommitAsync(ctx, repo, string.Join('/', r));
                return;
            case ["tags"] when get:
                await ListTagsAsync(ctx, repo);
                return;
            case ["git", "trees", .. var t] when get && t.Length > 0:
                await GetTreeAsync(ctx, repo, string.Join('/', t));
                return;
            case ["git", "commits", var sha] when get:
                await GetGitCommitAsync(ctx, repo, sha);
                return;
            case ["git", "blobs", var sha] when get:
                await GetBlobAsync(ctx, repo, sha);
                return;
            case ["git", "ref", .. var r] when get && r.Length > 0:
                await GetRefsAsync(ctx, repo, string.Join('/', r), exactOnly: true);
                return;
            case ["git", "refs", .. var r] when get:
                await GetRefsAsync(ctx, repo, string.Join('/', r), exactOnly: false);
                return;
            case ["git", "matching-refs", .. var r] when get:
                await MatchingRefsAsync(ctx, repo, string.Join('/', r));
                return;
            case ["tarball", .. var r] when get:
                await TarballAsync(ctx, repo, string.Join('/', r));
                return;
            case ["contents", .. var p] when get:
                await ContentsAsync(ctx, repo, string.Join('/', p));
                return;
            case ["check-runs"] when HttpMethods.IsPost(m):
                await CreateCheckRunAsync(ctx, repo, token, inst);
                return;
            case ["check-runs", var cr] when HttpMethods.IsPatch(m):
                await UpdateCheckRunAsync(ctx, repo, token, inst, cr);
                return;
            case ["check-runs", var cr] when get:
                await GetCheckRunAsync(ctx, repo, cr);
                return;
            case ["statuses", .. var r] when HttpMethods.IsPost(m) && r.Length > 0:
                await CreateStatusAsync(ctx, repo, token, inst, string.Join('/', r));
                return;
            case ["statuses", .. var r] when get && r.Length > 0:
                await ListStatusesAsync(ctx, repo, string.Join('/', r));
                return;
            default:
                await UnroutedAsync(ctx);
                return;
        }
    }

    // ---------------------------------------------------------------- Git data

    /// <summary>git rev-parse-like: refs/heads/x, refs/tags/x, heads/x, tags/x, full SHA, tag, branch, unique SHA prefix.</summary>
    private string? ResolveRef(FakeRepo repo, string r)
    {
        lock (_gate)
        {
            if (r.StartsWith("refs/heads/", StringComparison.Ordinal)) return repo.BranchMap.GetValueOrDefault(r[11..]);
            if (r.StartsWith("refs/tags/", StringComparison.Ordinal)) return repo.TagMap.GetValueOrDefault(r[10..]);
            if (r.Length == 40 && repo.Commits.ContainsKey(r)) return r;
            if (repo.TagMap.TryGetValue(r, out var t)) return t;
            if (repo.BranchMap.TryGetValue(r, out var b)) return b;
            if (r.StartsWith("heads/", StringComparison.Ordinal) && repo.BranchMap.TryGetValue(r[6..], out b)) return b;
            if (r.StartsWith("tags/", StringComparison.Ordinal) && repo.TagMap.TryGetValue(r[5..], out t)) return t;
            if (r.Length is >= 4 and < 40 && r.All(Uri.IsHexDigit))
            {
                var matches = repo.Commits.Keys.Where(k => k.StartsWith(r.ToLowerInvariant(), StringComparison.Ordinal)).Take(2).ToArray();
                if (matches.Length == 1) return matches[0];
            }
            return null;
        }
    }

    private async Task ListBranchesAsync(HttpContext ctx, FakeRepo repo)
    {
        KeyValuePair<string, string>[] branches;
        string full;
        lock (_gate)
        {
            branches = repo.BranchMap.OrderBy(b => b.Key, StringComparer.Ordinal).ToArray();
            full = repo.FullName;
        }
        var page = Page(ctx, branches);
        await WriteJsonAsync(ctx, 200, new JsonArray(page.Select(b => (JsonNode?)new JsonObject
        {
            ["name"] = b.Key,
            ["commit"] = new JsonObject { ["sha"] = b.Value, ["url"] = $"{Api}repos/{full}/commits/{b.Value}" },
            ["protected"] = false,
        }).ToArray()));
    }

    private async Task GetBranchAsync(HttpContext ctx, FakeRepo repo, string branch)
    {
        FakeCommit? commit = null;
        string full;
        lock (_gate)
        {
            full = repo.FullName;
            if (repo.BranchMap.TryGetValue(branch, out var sha)) commit = repo.Commits[sha];
        }
        if (commit is null)
        {
            await WriteJsonAsync(ctx, 404, Error("Branch not found", "https://docs.github.com/rest/branches/branches#get-a-branch", 404));
            return;
        }
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["name"] = branch,
            ["commit"] = CommitJson(repo, full, commit),
            ["_links"] = new JsonObject { ["self"] = $"{Api}repos/{full}/branches/{EscPath(branch)}", ["html"] = $"{Web}{full}/tree/{EscPath(branch)}" },
            ["protected"] = false,
            ["protection"] = new JsonObject
            {
                ["enabled"] = false,
                ["required_status_checks"] = new JsonObject { ["enforcement_level"] = "off", ["contexts"] = new JsonArray(), ["checks"] = new JsonArray() },
            },
            ["protection_url"] = $"{Api}repos/{full}/branches/{EscPath(branch)}/protection",
        });
    }

    private async Task<(FakeCommit Commit, string Full)?> RequireCommitAsync(HttpContext ctx, FakeRepo repo, string r)
    {
        var sha = ResolveRef(repo, r);
        lock (_gate)
            if (sha is not null) return (repo.Commits[sha], repo.FullName);
        await WriteJsonAsync(ctx, 422, Error($"No commit found for SHA: {r}", "https://docs.github.com/rest/commits/commits#get-a-commit", 422));
        return null;
    }

    private async Task GetCommitAsync(HttpContext ctx, FakeRepo repo, string r)
    {
        if (await RequireCommitAsync(ctx, repo, r) is not { } c) return;
        var json = CommitJson(repo, c.Full, c.Commit);
        json["stats"] = new JsonObject { ["total"] = 0, ["additions"] = 0, ["deletions"] = 0 };
        json["files"] = new JsonArray();
        await WriteJsonAsync(ctx, 200, json);
    }

    private async Task ListCommitsAsync(HttpContext ctx, FakeRepo repo)
    {
        var start = ctx.Request.Query["sha"].ToString();
        if (start.Length == 0) start = repo.DefaultBranch;
        var sha = ResolveRef(repo, start);
        var list = new List<FakeCommit>();
        string full;
        lock (_gate)
        {
            full = repo.FullName;
            for (var s = sha; s is not null; s = repo.Commits[s].ParentSha) list.Add(repo.Commits[s]);
        }
        if (sha is null && repo.BranchMap.Count == 0)
        {
            await WriteJsonAsync(ctx, 409, Error("Git Repository is empty.", "https://docs.github.com/rest/commits/commits#list-commits", 409));
            return;
        }
        if (sha is null)
        {
            await NotFoundAsync(ctx);
            return;
        }
        var page = Page(ctx, list);
        await WriteJsonAsync(ctx, 200, new JsonArray(page.Select(c => (JsonNode?)CommitJson(repo, full, c)).ToArray()));
    }

    private async Task GetGitCommitAsync(HttpContext ctx, FakeRepo repo, string sha)
    {
        FakeCommit? c;
        string full;
        lock (_gate) { c = repo.Commits.GetValueOrDefault(sha); full = repo.FullName; }
        if (c is null) await NotFoundAsync(ctx);
        else await WriteJsonAsync(ctx, 200, GitCommitJson(full, c));
    }

    private async Task ListTagsAsync(HttpContext ctx, FakeRepo repo)
    {
        KeyValuePair<string, string>[] tags;
        string full;
        lock (_gate)
        {
            // GitHub's order is not a contract; reverse ordinal here
            tags = repo.TagMap.OrderByDescending(t => t.Key, StringComparer.Ordinal).ToArray();
            full = repo.FullName;
        }
        var page = Page(ctx, tags);
        await WriteJsonAsync(ctx, 200, new JsonArray(page.Select(t => (JsonNode?)new JsonObject
        {
            ["name"] = t.Key,
            ["zipball_url"] = $"{Api}repos/{full}/zipball/refs/tags/{EscPath(t.Key)}",
            ["tarball_url"] = $"{Api}repos/{full}/tarball/refs/tags/{EscPath(t.Key)}",
            ["commit"] = new JsonObject { ["sha"] = t.Value, ["url"] = $"{Api}repos/{full}/commits/{t.Value}" },
            ["node_id"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("REF_" + full + ":refs/tags/" + t.Key)),
        }).ToArray()));
    }

    private List<(string Ref, string Sha)> AllRefs(FakeRepo repo)
    {
        lock (_gate)
            return repo.BranchMap.Select(b => ("refs/heads/" + b.Key, b.Value))
                .Concat(repo.TagMap.Select(t => ("refs/tags/" + t.Key, t.Value)))
                .OrderBy(x => x.Item1, StringComparer.Ordinal).ToList();
    }

    private async Task GetRefsAsync(HttpContext ctx, FakeRepo repo, string r, bool exactOnly)
    {
        var full = repo.FullName;
        var refs = AllRefs(repo);
        var wanted = r.Length == 0 ? "refs/" : "refs/" + r;
        var exact = refs.FirstOrDefault(x => x.Ref == wanted);
        if (exact.Ref is not null)
        {
            await WriteJsonAsync(ctx, 200, RefJson(full, exact.Ref, exact.Sha));
            return;
        }
        // legacy /git/refs/{prefix}: array of refs under the prefix
        var prefix = wanted.EndsWith('/') ? wanted : wanted + "/";
        var matches = refs.Where(x => x.Ref.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        if (exactOnly || matches.Count == 0)
        {
            await NotFoundAsync(ctx);
            return;
        }
        await WriteJsonAsync(ctx, 200, new JsonArray(Page(ctx, matches).Select(x => (JsonNode?)RefJson(full, x.Ref, x.Sha)).ToArray()));
    }

    private async Task MatchingRefsAsync(HttpContext ctx, FakeRepo repo, string r)
    {
        var full = repo.FullName;
        var matches = AllRefs(repo).Where(x => x.Ref.StartsWith("refs/" + r, StringComparison.Ordinal)).ToList();
        await WriteJsonAsync(ctx, 200, new JsonArray(matches.Select(x => (JsonNode?)RefJson(full, x.Ref, x.Sha)).ToArray()));
    }

    private async Task GetTreeAsync(HttpContext ctx, FakeRepo repo, string t)
    {
        var recursive = ctx.Request.Query.ContainsKey("recursive");
        string? treeSha;
        string full;
        var items = new JsonArray();
        lock (_gate)
        {
            full = repo.FullName;
            treeSha = repo.Trees.ContainsKey(t) ? t : ResolveRef(repo, t) is { } sha ? repo.Commits[sha].TreeSha : null;
            if (treeSha is not null)
            {
                var entries = recursive
                    ? FakeGitObjects.Walk(treeSha, repo.Trees).ToList()
                    : repo.Trees[treeSha].Entries.Select(e => (Path: e.Name, Entry: e)).ToList();
                foreach (var (path, e) in entries)
                {
                    var item = new JsonObject { ["path"] = path, ["mode"] = e.Mode, ["type"] = e.Type, ["sha"] = e.Sha };
                    if (e.Type == "blob") item["size"] = e.Size;
                    item["url"] = $"{Api}repos/{full}/git/{(e.Type == "blob" ? "blobs" : "trees")}/{e.Sha}";
                    items.Add(item);
                }
            }
        }
        if (treeSha is null)
        {
            await NotFoundAsync(ctx);
            return;
        }
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["sha"] = treeSha,
            ["url"] = $"{Api}repos/{full}/git/trees/{treeSha}",
            ["tree"] = items,
            ["truncated"] = false,
        });
    }

    private static string Base64Lines(byte[] data)
    {
        var b64 = Convert.ToBase64String(data);
        var sb = new StringBuilder();
        for (var i = 0; i < b64.Length; i += 60) sb.Append(b64, i, Math.Min(60, b64.Length - i)).Append('\n');
        return sb.ToString();
    }

    private async Task GetBlobAsync(HttpContext ctx, FakeRepo repo, string sha)
    {
        byte[]? data;
        string full;
        lock (_gate) { data = repo.Blobs.GetValueOrDefault(sha); full = repo.FullName; }
        if (data is null)
        {
            await NotFoundAsync(ctx);
            return;
        }
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["sha"] = sha,
            ["node_id"] = NodeId("B_", 0) + sha[..8],
            ["size"] = data.Length,
            ["url"] = $"{Api}repos/{full}/git/blobs/{sha}",
            ["content"] = Base64Lines(data),
            ["encoding"] = "base64",
        });
    }

    private async Task ContentsAsync(HttpContext ctx, FakeRepo repo, string path)
    {
        var refName = ctx.Request.Query["ref"].ToString();
        if (refName.Length == 0) refName = repo.DefaultBranch;
        var sha = ResolveRef(repo, refName);
        if (sha is null)
        {
            await WriteJsonAsync(ctx, 404, Error($"No commit found for the ref {refName}", "https://docs.github.com/rest/repos/contents#get-repository-content", 404));
            return;
        }
        var accept = ctx.Request.Headers.Accept.ToString();
        var rawType = accept.Split(',').Select(a => a.Trim().Split(';')[0]).FirstOrDefault(a => a is "application/vnd.github.raw" or "application/vnd.github.v3.raw" or "application/vnd.github.raw+json");
        JsonNode? json = null;
        byte[]? raw = null;
        lock (_gate)
        {
            var full = repo.FullName;
            var commit = repo.Commits[sha];
            var segments = path.Length == 0 ? [] : path.Trim('/').Split('/');
            var treeSha = commit.TreeSha;
            FakeTreeEntry? entry = null;
            foreach (var seg in segments)
            {
                if (treeSha is null) { entry = null; break; }
                entry = repo.Trees[treeSha].Entries.FirstOrDefault(e => e.Name == seg);
                if (entry is null) break;
                treeSha = entry.Type == "tree" ? entry.Sha : null;
            }
            var found = segments.Length == 0 || entry is not null;
            JsonObject Item(string itemPath, FakeTreeEntry e, bool withContent)
            {
                var isDir = e.Type == "tree";
                var type = isDir ? "dir" : e.Mode == FakeGitObjects.SymlinkMode ? "symlink" : "file";
                var self = $"{Api}repos/{full}/contents/{EscPath(itemPath)}?ref={Esc(refName)}";
                var git = $"{Api}repos/{full}/git/{(isDir ? "trees" : "blobs")}/{e.Sha}";
                var html = $"{Web}{full}/{(isDir ? "tree" : "blob")}/{EscPath(refName)}/{EscPath(itemPath)}";
                var o = new JsonObject { ["type"] = type };
                if (withContent && type == "file") o["encoding"] = "base64";
                o["size"] = isDir ? 0 : e.Size;
                o["name"] = e.Name;
                o["path"] = itemPath;
                if (withContent && type == "file") o["content"] = Base64Lines(repo.Blobs[e.Sha]);
                if (withContent && type == "symlink") o["target"] = Encoding.UTF8.GetString(repo.Blobs[e.Sha]);
                o["sha"] = e.Sha;
                o["url"] = self;
                o["git_url"] = git;
                o["html_url"] = html;
                o["download_url"] = isDir ? null : $"{Web}{full}/raw/{EscPath(refName)}/{EscPath(itemPath)}";
                o["_links"] = new JsonObject { ["self"] = self, ["git"] = git, ["html"] = html };
                return o;
            }
            if (found)
            {
                if (entry is not null && entry.Type == "blob")
                {
                    if (rawType is not null) raw = repo.Blobs[entry.Sha];
                    else json = Item(path.Trim('/'), entry, withContent: true);
                }
                else
                {
                    var dirTree = entry?.Sha ?? commit.TreeSha;
                    var prefix = segments.Length == 0 ? "" : string.Join('/', segments) + "/";
                    json = new JsonArray(repo.Trees[dirTree].Entries.Select(e => (JsonNode?)Item(prefix + e.Name, e, withContent: false)).ToArray());
                }
            }
        }
        if (raw is not null)
        {
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = rawType;
            ctx.Response.ContentLength = raw.Length;
            await ctx.Response.Body.WriteAsync(raw);
        }
        else if (json is not null) await WriteJsonAsync(ctx, 200, json);
        else await NotFoundAsync(ctx);
    }

    // ---------------------------------------------------------------- Archives

    private async Task TarballAsync(HttpContext ctx, FakeRepo repo, string r)
    {
        var sha = ResolveRef(repo, r.Length == 0 ? repo.DefaultBranch : r);
        if (sha is null)
        {
            await NotFoundAsync(ctx);
            return;
        }
        var truncate = TakeFault(ctx.Request.Method, ctx.Request.Path.Value + ctx.Request.QueryString.Value, truncation: true) is not null;
        if (!TarballRedirects)
        {
            await WriteTarballAsync(ctx, repo, sha, truncate);
            return;
        }
        // like api.github.com: 302 to codeload, with a short-lived token in the URL
        var ticket = RandomString(24);
        string owner, name;
        lock (_gate)
        {
            _codeload[ticket] = new CodeloadTicket(repo.Id, sha, truncate, DateTimeOffset.UtcNow.AddMinutes(5));
            owner = repo.Owner;
            name = repo.Name;
        }
        ctx.Response.StatusCode = 302;
        ctx.Response.Headers.Location = $"{Web}_codeload/{Esc(owner)}/{Esc(name)}/legacy.tar.gz/{sha}?token={ticket}";
        ctx.Response.ContentLength = 0;
    }

    private async Task CodeloadAsync(HttpContext ctx, string owner, string name, string r)
    {
        var tokenValue = ctx.Request.Query["token"].ToString();
        FakeRepo? repo;
        CodeloadTicket? ticket = null;
        lock (_gate)
        {
            repo = FindRepo(owner, name);
            if (tokenValue.Length > 0 && _codeload.TryGetValue(tokenValue, out var t) && t.ExpiresAt > DateTimeOffset.UtcNow && repo?.Id == t.RepoId)
                ticket = t;
        }
        // codeload needs its token for private repositories only
        if (repo is null || (ticket is null && repo.Private))
        {
            ctx.Response.StatusCode = 404;
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync("404: Not Found");
            return;
        }
        var sha = ResolveRef(repo, r);
        if (sha is null)
        {
            ctx.Response.StatusCode = 404;
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync("404: Not Found");
            return;
        }
        var truncate = TakeFault(ctx.Request.Method, ctx.Request.Path.Value + ctx.Request.QueryString.Value, truncation: true) is not null;
        if (ticket is not null && ticket.Truncate && ticket.Sha == sha)
        {
            truncate = true;
            lock (_gate) _codeload[tokenValue] = ticket with { Truncate = false };
        }
        await WriteTarballAsync(ctx, repo, sha, truncate);
    }

    /// <summary>Builds the archive exactly as the client would get it from GitHub (for assertions).</summary>
    public byte[] BuildTarball(FakeRepo repo, string sha)
    {
        lock (_gate) return TarballOf(repo, sha).ToArray(); // a copy: the cached one is what GitHub serves
    }

    // Built once per commit and name, as GitHub caches its archives: a commit's tree never changes, and building a large
    // repository's archive on every download would charge this process (which the app under test shares) for GitHub's work.
    private readonly Dictionary<(string Owner, string Name, string Sha), byte[]> _tarballs = new();

    private byte[] TarballOf(FakeRepo repo, string sha)
    {
        var key = (repo.Owner, repo.Name, sha);
        if (!_tarballs.TryGetValue(key, out var data))
            _tarballs[key] = data = FakeGitObjects.BuildTarball(repo.Owner, repo.Name, repo.Commits[sha], repo.Trees, repo.Blobs);
        return data;
    }

    private async Task WriteTarballAsync(HttpContext ctx, FakeRepo repo, string sha, bool truncate)
    {
        byte[] data;
        string top;
        lock (_gate)
        {
            data = TarballOf(repo, sha);
            top = FakeGitObjects.TopFolder(repo.Owner, repo.Name, sha);
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/x-gzip";
        ctx.Response.Headers.ContentDisposition = $"attachment; filename={top}.tar.gz";
        ctx.Response.ContentLength = data.Length;
        if (!truncate)
        {
            await ctx.Response.Body.WriteAsync(data);
            return;
        }
        await ctx.Response.Body.WriteAsync(data.AsMemory(0, data.Length / 2));
        await ctx.Response.Body.FlushAsync();
        ctx.Abort();
    }

    // ---------------------------------------------------------------- Checks and statuses

    private static string? Str(JsonObject o, string key) =>
        o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static DateTimeOffset? Date(JsonObject o, string key) =>
        Str(o, key) is { } s && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d) ? d.Truncate() : null;

    private static async Task<JsonObject?> ReadJsonObjectAsync(HttpContext ctx)
    {
        using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        if (string.IsNullOrWhiteSpace(text)) return new JsonObject();
        try { return JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { return null; }
    }

    private static Task ValidationFailedAsync(HttpContext ctx, string resource, string field, string message) =>
        WriteJsonAsync(ctx, 422, new JsonObject
        {
            ["message"] = "Validation Failed",
            ["errors"] = new JsonArray(new JsonObject { ["resource"] = resource, ["code"] = "invalid", ["field"] = field, ["message"] = message }),
            ["documentation_url"] = "https://docs.github.com/rest",
            ["status"] = "422",
        });

    private static Task NotAccessibleAsync(HttpContext ctx, string docs) =>
        WriteJsonAsync(ctx, 403, Error("Resource not accessible by integration", docs, 403));

    private async Task CreateCheckRunAsync(HttpContext ctx, FakeRepo repo, IssuedToken token, FakeInstallation inst)
    {
        if (!TokenHas(token, inst, "checks", "write"))
        {
            await NotAccessibleAsync(ctx, "https://docs.github.com/rest/checks/runs#create-a-check-run");
            return;
        }
        var body = await ReadJsonObjectAsync(ctx);
        if (body is null)
        {
            await WriteJsonAsync(ctx, 400, Error("Problems parsing JSON"));
            return;
        }
        var name = Str(body, "name");
        var headSha = Str(body, "head_sha");
        if (string.IsNullOrEmpty(name)) { await ValidationFailedAsync(ctx, "CheckRun", "name", "name is missing"); return; }
        if (string.IsNullOrEmpty(headSha)) { await ValidationFailedAsync(ctx, "CheckRun", "head_sha", "head_sha is missing"); return; }
        bool exists;
        lock (_gate) exists = repo.Commits.ContainsKey(headSha);
        if (!exists)
        {
            await WriteJsonAsync(ctx, 422, Error($"No commit found for SHA: {headSha}", "https://docs.github.com/rest/checks/runs#create-a-check-run", 422));
            return;
        }
        var conclusion = Str(body, "conclusion");
        if (await ValidateCheckAsync(ctx, Str(body, "status") ?? "queued", conclusion, hadConclusion: false) is not { } status) return;
        var output = body["output"] as JsonObject;
        if (output is not null && (Str(output, "title") is null || Str(output, "summary") is null))
        {
            await ValidationFailedAsync(ctx, "CheckRun", "output", "output requires title and summary");
            return;
        }
        if (!await AcceptAnnotationsAsync(ctx, output)) return;
        var now = DateTimeOffset.UtcNow.Truncate();
        FakeCheckRun run;
        lock (_gate)
        {
            if (!_checkSuites.TryGetValue((repo.Id, headSha), out var suite))
                _checkSuites[(repo.Id, headSha)] = suite = _nextCheckSuiteId++;
            run = new FakeCheckRun(_nextCheckRunId++, repo.Id, repo.FullName, inst.Id, headSha, name, status, conclusion,
                output is null ? null : Str(output, "title"), output is null ? null : Str(output, "summary"), output is null ? null : Str(output, "text"),
                Str(body, "details_url"), Str(body, "external_id"), Date(body, "started_at") ?? now,
                status == "completed" ? Date(body, "completed_at") ?? now : null, suite, [status], 0);
            _checkRuns.Add(run);
            RecordAnnotations(run.Id, output);
        }
        await WriteJsonAsync(ctx, 201, CheckRunJson(run));
    }

    /// <summary>Sets status=completed when a conclusion is given; 422 for bad values. Returns false when answered.</summary>
    private static async Task<string?> ValidateCheckAsync(HttpContext ctx, string status, string? conclusion, bool hadConclusion)
    {
        if (!CheckStatuses.Contains(status)) { await ValidationFailedAsync(ctx, "CheckRun", "status", $"status '{status}' is not valid"); return null; }
        if (conclusion is not null && !CheckConclusions.Contains(conclusion)) { await ValidationFailedAsync(ctx, "CheckRun", "conclusion", $"conclusion '{conclusion}' is not valid"); return null; }
        if (conclusion is not null) status = "completed";
        if (status == "completed" && conclusion is null && !hadConclusion)
        {
            await ValidationFailedAsync(ctx, "CheckRun", "conclusion", "conclusion is required when status is completed");
            return null;
        }
        return status;
    }

    private FakeCheckRun? FindCheckRun(FakeRepo repo, string id)
    {
        if (!long.TryParse(id, out var n)) return null;
        lock (_gate) return _checkRuns.FirstOrDefault(c => c.Id == n && c.RepoId == repo.Id);
    }

    private async Task GetCheckRunAsync(HttpContext ctx, FakeRepo repo, string id)
    {
        var run = FindCheckRun(repo, id);
        if (run is null) await NotFoundAsync(ctx);
        else await WriteJsonAsync(ctx, 200, CheckRunJson(run));
    }

    private async Task UpdateCheckRunAsync(HttpContext ctx, FakeRepo repo, IssuedToken token, FakeInstallation inst, string id)
    {
        if (!TokenHas(token, inst, "checks", "write"))
        {
            await NotAccessibleAsync(ctx, "https://docs.github.com/rest/checks/runs#update-a-check-run");
            return;
        }
        var run = FindCheckRun(repo, id);
        if (run is null)
        {
            await NotFoundAsync(ctx);
            return;
        }
        var body = await ReadJsonObjectAsync(ctx);
        if (body is null)
        {
            await WriteJsonAsync(ctx, 400, Error("Problems parsing JSON"));
            return;
        }
        var conclusion = Str(body, "conclusion");
        if (await ValidateCheckAsync(ctx, Str(body, "status") ?? run.Status, conclusion, hadConclusion: run.Conclusion is not null) is not { } status) return;
        var output = body["output"] as JsonObject;
        if (!await AcceptAnnotationsAsync(ctx, output)) return;
        var now = DateTimeOffset.UtcNow.Truncate();
        FakeCheckRun updated;
        lock (_gate)
        {
            var current = _checkRuns.First(c => c.Id == run.Id);
            var history = current.StatusHistory.ToList();
            if (history[^1] != status) history.Add(status);
            updated = current with
            {
                Name = Str(body, "name") ?? current.Name,
                DetailsUrl = Str(body, "details_url") ?? current.DetailsUrl,
                ExternalId = Str(body, "external_id") ?? current.ExternalId,
                StartedAt = Date(body, "started_at") ?? current.StartedAt,
                Status = status,
                Conclusion = conclusion ?? current.Conclusion,
                CompletedAt = status == "completed" ? Date(body, "completed_at") ?? current.CompletedAt ?? now : current.CompletedAt,
                Title = output is null ? current.Title : Str(output, "title") ?? current.Title,
                Summary = output is null ? current.Summary : Str(output, "summary") ?? current.Summary,
                Text = output is null ? current.Text : Str(output, "text") ?? current.Text,
                StatusHistory = history,
                UpdateCount = current.UpdateCount + 1,
            };
            _checkRuns[_checkRuns.IndexOf(current)] = updated;
            RecordAnnotations(run.Id, output);
        }
        await WriteJsonAsync(ctx, 200, CheckRunJson(updated));
    }

    private async Task ListCheckRunsForRefAsync(HttpContext ctx, FakeRepo repo, string r)
    {
        if (await RequireCommitAsync(ctx, repo, r) is not { } c) return;
        var checkName = ctx.Request.Query["check_name"].ToString();
        var filter = ctx.Request.Query["filter"].ToString() is { Length: > 0 } f ? f : "latest";
        if (filter is not ("latest" or "all"))
        {
            await ValidationFailedAsync(ctx, "CheckRun", "filter", $"filter '{filter}' is not valid");
            return;
        }
        FakeCheckRun[] runs;
        lock (_gate)
            runs = _checkRuns.Where(x => x.RepoId == repo.Id && x.HeadSha == c.Commit.Sha && (checkName.Length == 0 || x.Name == checkName))
                .OrderByDescending(x => x.Id).ToArray();
        // GitHub's default, filter=latest, answers only the most recent run of each name; filter=all answers every one.
        if (filter == "latest") runs = runs.DistinctBy(x => x.Name).ToArray();
        var page = Page(ctx, runs);
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["total_count"] = runs.Length,
            ["check_runs"] = new JsonArray(page.Select(x => (JsonNode?)CheckRunJson(x)).ToArray()),
        });
    }

    private async Task CreateStatusAsync(HttpContext ctx, FakeRepo repo, IssuedToken token, FakeInstallation inst, string sha)
    {
        if (!TokenHas(token, inst, "statuses", "write"))
        {
            await NotAccessibleAsync(ctx, "https://docs.github.com/rest/commits/statuses#create-a-commit-status");
            return;
        }
        var body = await ReadJsonObjectAsync(ctx);
        if (body is null)
        {
            await WriteJsonAsync(ctx, 400, Error("Problems parsing JSON"));
            return;
        }
        bool exists;
        lock (_gate) exists = repo.Commits.ContainsKey(sha);
        if (!exists)
        {
            await WriteJsonAsync(ctx, 422, Error($"No commit found for SHA: {sha}", "https://docs.github.com/rest/commits/statuses#create-a-commit-status", 422));
            return;
        }
        var state = Str(body, "state");
        if (state is null || !StatusStates.Contains(state))
        {
            await ValidationFailedAsync(ctx, "Status", "state", "state must be one of error, failure, pending, success");
            return;
        }
        var description = Str(body, "description");
        if (description is { Length: > 140 })
        {
            await ValidationFailedAsync(ctx, "Status", "description", "description is too long (maximum is 140 characters)");
            return;
        }
        FakeCommitStatus status;
        lock (_gate)
        {
            status = new FakeCommitStatus(_nextStatusId++, repo.Id, repo.FullName, inst.Id, sha, state,
                Str(body, "context") ?? "default", description, Str(body, "target_url"), DateTimeOffset.UtcNow.Truncate());
            _statuses.Add(status);
        }
        await WriteJsonAsync(ctx, 201, StatusJson(status));
    }

    private async Task ListStatusesAsync(HttpContext ctx, FakeRepo repo, string r)
    {
        if (await RequireCommitAsync(ctx, repo, r) is not { } c) return;
        FakeCommitStatus[] list;
        lock (_gate) list = _statuses.Where(s => s.RepoId == repo.Id && s.Sha == c.Commit.Sha).OrderByDescending(s => s.Id).ToArray();
        await WriteJsonAsync(ctx, 200, new JsonArray(Page(ctx, list).Select(s => (JsonNode?)StatusJson(s)).ToArray()));
    }

    private async Task CombinedStatusAsync(HttpContext ctx, FakeRepo repo, string r)
    {
        if (await RequireCommitAsync(ctx, repo, r) is not { } c) return;
        FakeCommitStatus[] latest;
        lock (_gate)
            latest = _statuses.Where(s => s.RepoId == repo.Id && s.Sha == c.Commit.Sha)
                .GroupBy(s => s.Context).Select(g => g.MaxBy(s => s.Id)!).OrderBy(s => s.Context, StringComparer.Ordinal).ToArray();
        var state = latest.Length == 0 ? "pending"
            : latest.Any(s => s.State is "error" or "failure") ? "failure"
            : latest.All(s => s.State == "success") ? "success" : "pending";
        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["state"] = state,
            ["statuses"] = new JsonArray(latest.Select(s => (JsonNode?)StatusJson(s)).ToArray()),
            ["sha"] = c.Commit.Sha,
            ["total_count"] = latest.Length,
            ["repository"] = RepoJson(repo),
            ["commit_url"] = $"{Api}repos/{c.Full}/commits/{c.Commit.Sha}",
            ["url"] = $"{Api}repos/{c.Full}/commits/{c.Commit.Sha}/status",
        });
    }

    // ---------------------------------------------------------------- Web

    private async Task BrowserInstallAsync(HttpContext ctx, string slug)
    {
        if (!string.Equals(slug, AppSlug, StringComparison.OrdinalIgnoreCase))
        {
            await UnroutedAsync(ctx);
            return;
        }
        var inst = NextInstallForBrowser;
        var setup = SetupUrl;
        if (inst is null || (setup is null && CallbackUrl is null))
        {
            ctx.Response.StatusCode = 404;
            ctx.Response.ContentType = "text/plain";
            await ctx.Response.WriteAsync("FakeGitHub: set NextInstallForBrowser and SetupUrl or CallbackUrl before the browser install.");
            return;
        }
        // The user installs (or configures) the App on GitHub's page: GitHub creates or updates the installation. Only an
        // administrator of the account can, so the installing user can access it from then on.
        inst.Touch();
        if (BrowserUser is { } installer && inst.AccountType == "Organization") AddUser(installer, inst.AccountLogin);
        if (await InstallThroughCallbackAsync(ctx, inst, "install")) return;
        var state = ctx.Request.Query["state"];
        var url = setup!.AbsoluteUri + (string.IsNullOrEmpty(setup.Query) ? "?" : "&")
            + $"installation_id={inst.Id}&setup_action=install"
            + (state.Count > 0 ? "&state=" + Esc(state.ToString()) : "");
        ctx.Response.StatusCode = 302;
        ctx.Response.Headers.Location = url;
    }

    // ---------------------------------------------------------------- Paging

    /// <summary>GitHub paging: per_page (default 30, max 100), page (1-based), Link header with prev/next/last/first.</summary>
    private IReadOnlyList<T> Page<T>(HttpContext ctx, IReadOnlyList<T> all)
    {
        var q = ctx.Request.Query;
        var perPage = int.TryParse(q["per_page"], out var pp) && pp > 0 ? Math.Min(pp, 100) : 30;
        var page = int.TryParse(q["page"], out var p) && p > 0 ? p : 1;
        var last = Math.Max(1, (all.Count + perPage - 1) / perPage);

        var kept = q.Where(kv => kv.Key != "page")
            .SelectMany(kv => kv.Value.Select(v => Esc(kv.Key) + "=" + Esc(v ?? ""))).ToList();
        string Url(int n) => $"<{BaseUrl.GetLeftPart(UriPartial.Authority)}{ctx.Request.Path}?{string.Join('&', kept.Append("page=" + n))}>";
        var links = new List<string>();
        if (page > 1) links.Add($"{Url(Math.Min(page - 1, last))}; rel=\"prev\"");
        if (page < last)
        {
            links.Add($"{Url(page + 1)}; rel=\"next\"");
            links.Add($"{Url(last)}; rel=\"last\"");
        }
        if (page > 1) links.Add($"{Url(1)}; rel=\"first\"");
        if (links.Count > 0) ctx.Response.Headers["Link"] = string.Join(", ", links);

        return all.Skip((page - 1) * perPage).Take(perPage).ToList();
    }
}
